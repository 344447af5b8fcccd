"""The uv workspace: its root, its project name and each member's `[tool.flowfleet]`."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from flowfleet.problems import FlowfleetError


@dataclass(frozen=True)
class Member:
    """One workspace member: a flow package or a library such as the core."""

    name: str  # distribution name, e.g. "sales-flows"
    path: Path
    options: dict[str, Any] = field(default_factory=dict)  # its [tool.flowfleet]
    dependencies: tuple[str, ...] = ()

    @property
    def image_name(self) -> str:
        return self.options.get("image", self.name)


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
    def members(self) -> dict[str, Member]:
        """Members by distribution name, from the root's explicit members list."""
        data = _read_toml(self.root / "pyproject.toml")
        members: dict[str, Member] = {}
        for pattern in data["tool"]["uv"]["workspace"].get("members", []):
            for path in sorted(self.root.glob(pattern)):
                pyproject = path / "pyproject.toml"
                if not pyproject.is_file():
                    continue
                meta = _read_toml(pyproject)
                project = meta.get("project", {})
                name = _normalise(project.get("name", path.name))
                deps = tuple(
                    _normalise(_requirement_name(d)) for d in project.get("dependencies", [])
                )
                options = meta.get("tool", {}).get("flowfleet", {})
                members[name] = Member(name, path, options, deps)
        return members

    def member(self, name: str) -> Member | None:
        return self.members.get(_normalise(name))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FlowfleetError(f"{path}: malformed TOML: {exc}") from None


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _requirement_name(requirement: str) -> str:
    for i, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:i]
    return requirement
