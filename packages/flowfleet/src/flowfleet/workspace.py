"""The uv workspace: its root, its project name and its members, each with its `[tool.flowfleet]`.

Members are found the way uv finds them: the root's `[tool.uv.workspace]` `members`
globs, minus its `exclude` globs, each a folder with a `pyproject.toml`. They are read
from a `Tree` (the working tree, or a commit for `images changed`), so loading,
images and git storage all see the same members.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from flowfleet.gittree import Tree, WorkingTree
from flowfleet.problems import FlowfleetError


@dataclass(frozen=True)
class Member:
    """One workspace member: a flow package or a library such as the core."""

    name: str  # distribution name, normalised, e.g. "sales-flows"
    path: str  # relative to the workspace root, posix, e.g. "flows/sales"
    dependencies: tuple[str, ...] = ()  # normalised names of its [project] dependencies
    options: dict[str, Any] = field(default_factory=dict)  # its [tool.flowfleet]
    entry_points: dict[str, str] = field(default_factory=dict)  # its `flowfleet` entry points

    @property
    def image_name(self) -> str:
        return self.options.get("image", self.name)

    @property
    def is_flow_package(self) -> bool:
        """A team package: it lives under flows/ or sets [tool.flowfleet] options."""
        return self.path.startswith("flows/") or bool(self.options)

    @property
    def team(self) -> str:
        """The name of its `flowfleet` entry point (`sales`), else its folder name."""
        return next(iter(self.entry_points), None) or PurePosixPath(self.path).name


@dataclass(frozen=True)
class Workspace:
    root: Path
    project: str

    @classmethod
    def find(cls, start: Path | None = None) -> Workspace:
        """The workspace holding `start` (default: `FLOWFLEET_ROOT` or the cwd)."""
        start = Path(start or os.environ.get("FLOWFLEET_ROOT") or Path.cwd()).resolve()
        for folder in (start, *start.parents):
            pyproject = folder / "pyproject.toml"
            if pyproject.is_file():
                data = _read_toml(pyproject)
                if "workspace" in data.get("tool", {}).get("uv", {}):
                    options = data.get("tool", {}).get("flowfleet", {})
                    project = options.get("project") or data.get("project", {}).get("name")
                    return cls(folder, project or folder.name)
        raise FlowfleetError(
            f"no uv workspace found above {start}: run flowfleet inside the workspace "
            "or set FLOWFLEET_ROOT"
        )

    @property
    def environments_dir(self) -> Path:
        return self.root / "infra" / "environments"

    @cached_property
    def tree(self) -> WorkingTree:
        """The working tree's files, listed once (one `git ls-files`) for every user."""
        return WorkingTree(self.root)

    @cached_property
    def members(self) -> dict[str, Member]:
        """Members by distribution name."""
        return find_members(self.tree)

    def member(self, name: str) -> Member | None:
        return self.members.get(normalise(name))


def find_members(tree: Tree) -> dict[str, Member]:
    """The workspace members of `tree`, by distribution name, as uv's members/exclude say."""
    workspace = _tree_toml(tree, "pyproject.toml").get("tool", {}).get("uv", {})
    workspace = workspace.get("workspace", {})
    include = [_glob_regex(p) for p in workspace.get("members", [])]
    exclude = [_glob_regex(p) for p in workspace.get("exclude", [])]
    folders = sorted(
        p.removesuffix("/pyproject.toml") for p in tree.paths if p.endswith("/pyproject.toml")
    )
    found: dict[str, Member] = {}
    for folder in folders:
        if not any(r.match(folder) for r in include) or any(r.match(folder) for r in exclude):
            continue
        meta = _tree_toml(tree, f"{folder}/pyproject.toml")
        project = meta.get("project", {})
        name = normalise(project.get("name", PurePosixPath(folder).name))
        found[name] = Member(
            name=name,
            path=folder,
            dependencies=tuple(
                normalise(requirement_name(d)) for d in project.get("dependencies", [])
            ),
            options=meta.get("tool", {}).get("flowfleet", {}),
            entry_points=dict(project.get("entry-points", {}).get("flowfleet", {})),
        )
    return dict(sorted(found.items()))


def workspace_closure(package: str, members: Mapping[str, Member]) -> list[str]:
    """The package and every workspace member it depends on, transitively, sorted."""
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen or name not in members:
            continue
        seen.add(name)
        todo.extend(members[name].dependencies)
    return sorted(seen)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    for part in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
        if part.startswith("**"):
            out += ".*"
        elif part == "*":
            out += "[^/]*"
        elif part == "?":
            out += "[^/]"
        else:
            out += re.escape(part)
    return re.compile(out + r"\Z")


def _tree_toml(tree: Tree, path: str) -> dict[str, Any]:
    content = tree.read(path)
    if content is None:
        return {}
    try:
        return tomllib.loads(content.decode())
    except tomllib.TOMLDecodeError as exc:
        raise FlowfleetError(f"{path}: malformed TOML: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FlowfleetError(f"{path}: malformed TOML: {exc}") from None


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def requirement_name(requirement: str) -> str:
    for i, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:i]
    return requirement
