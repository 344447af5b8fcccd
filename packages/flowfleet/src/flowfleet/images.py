"""Content-addressed image tags: one tag per flow package, from exactly what goes in its image.

A package's tag is a hash of:
- its own files, and the files of the workspace packages it depends on (transitively);
- its own locked dependency set: the uv.lock entries it reaches, not the whole lock file;
- the image recipe, `infra/docker/Dockerfile`.

So a package that did not change keeps its tag across commits (and its deployments stay
unchanged), and one team's change leaves every other team's tag alone. `IMAGE_TAG` (or an
explicit override) replaces every tag.

Files are hashed as git blobs, so the same content gives the same hash whether it is read
from the working tree or from a commit (`git ls-tree`): `changed(base)` compares the two
without checking anything out. Outside a git repository the working tree is walked.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from flowfleet.environments import Environment
from flowfleet.problems import FlowfleetError
from flowfleet.workspace import Member, Workspace, _normalise, _requirement_name

DOCKERFILE = "infra/docker/Dockerfile"
LOCK_FILE = "uv.lock"
TAG_LENGTH = 12
IMAGE_TAG_ENV = "IMAGE_TAG"

# Never part of an image's inputs, tracked or not.
_SKIP_DIRS = {
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".venv",
    ".tox",
    ".ipynb_checkpoints",
    "node_modules",
    "build",
    "dist",
}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def _skipped(path: str) -> bool:
    parts = path.split("/")
    return (
        path.endswith(_SKIP_SUFFIXES)
        or any(p in _SKIP_DIRS or p.endswith(".egg-info") for p in parts[:-1])
        or parts[-1] == ".DS_Store"
    )


def blob_id(content: bytes) -> str:
    """Git's object id for a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _git(root: Path, *args: str) -> bytes:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise FlowfleetError(f"git {' '.join(args)}: {message}")
    return result.stdout


# --- trees: the workspace's files, now or at a commit --------------------------------------


class Tree:
    """The files of a workspace, by path relative to the workspace root (posix)."""

    root: Path

    @cached_property
    def paths(self) -> list[str]:
        raise NotImplementedError

    def blob(self, path: str) -> str | None:
        """The file's git blob id, or None when there is no such file."""
        raise NotImplementedError

    def read(self, path: str) -> bytes | None:
        raise NotImplementedError

    def under(self, folder: str) -> dict[str, str]:
        """Path -> blob id for every file under `folder`."""
        prefix = folder.rstrip("/") + "/" if folder not in ("", ".") else ""
        found = {}
        for path in self.paths:
            if path.startswith(prefix) and (blob := self.blob(path)) is not None:
                found[path] = blob
        return found


class WorkingTree(Tree):
    """The files on disk: git-tracked and untracked-but-not-ignored, or every file.

    Only the files asked for are read and hashed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    @cached_property
    def paths(self) -> list[str]:
        try:
            out = _git(self.root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
            paths = {p for p in out.decode().split("\0") if p}
        except (FlowfleetError, OSError):
            paths = set(self._walk())
        return sorted(p for p in paths if not _skipped(p))

    def _walk(self) -> Iterator[str]:
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and d != ".git"]
            for name in names:
                yield Path(folder, name).relative_to(self.root).as_posix()

    def blob(self, path: str) -> str | None:
        content = self.read(path)
        return None if content is None else blob_id(content)  # None: tracked, deleted on disk

    def read(self, path: str) -> bytes | None:
        full = self.root / path
        if full.is_symlink():
            return os.readlink(full).encode()
        try:
            return full.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None


class GitTree(Tree):
    """The files of one commit, read with `git ls-tree` and `git cat-file`: no checkout."""

    def __init__(self, root: Path, ref: str) -> None:
        self.root = root
        self.ref = ref
        try:
            _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except (FlowfleetError, OSError):
            raise FlowfleetError(f"unknown git revision '{ref}' in {root}") from None

    @cached_property
    def _blobs(self) -> dict[str, str]:
        # Run from the workspace root: paths come out relative to it, limited to it.
        out = _git(self.root, "ls-tree", "-r", "-z", self.ref)
        blobs = {}
        for entry in out.decode().split("\0"):
            if not entry:
                continue
            meta, path = entry.split("\t", 1)
            _mode, kind, blob = meta.split()
            if kind == "blob" and not _skipped(path):
                blobs[path] = blob
        return blobs

    @cached_property
    def paths(self) -> list[str]:
        return sorted(self._blobs)

    def blob(self, path: str) -> str | None:
        return self._blobs.get(path)

    def read(self, path: str) -> bytes | None:
        blob = self._blobs.get(path)
        return None if blob is None else _git(self.root, "cat-file", "blob", blob)


# --- the workspace as a tree sees it -------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """A workspace member as far as images care."""

    name: str  # distribution name
    path: str  # relative to the workspace root, posix
    dependencies: tuple[str, ...]
    options: dict[str, Any]
    entry_points: dict[str, str]

    @property
    def is_flow_package(self) -> bool:
        """A team package: it lives under flows/ or sets [tool.flowfleet] options."""
        return self.path.startswith("flows/") or bool(self.options)

    @property
    def team(self) -> str:
        """The name of its `flowfleet` entry point (`sales`), else its folder name."""
        return next(iter(self.entry_points), None) or PurePosixPath(self.path).name

    @property
    def image_name(self) -> str:
        return Member(self.name, Path(self.path), self.options).image_name


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


def _toml(tree: Tree, path: str) -> dict[str, Any]:
    content = tree.read(path)
    if content is None:
        return {}
    try:
        return tomllib.loads(content.decode())
    except tomllib.TOMLDecodeError as exc:
        raise FlowfleetError(f"{path}: malformed TOML: {exc}") from None


def packages(tree: Tree) -> dict[str, Package]:
    """The workspace members listed in the root pyproject, by distribution name."""
    root = _toml(tree, "pyproject.toml")
    patterns = root.get("tool", {}).get("uv", {}).get("workspace", {}).get("members", [])
    folders = sorted(
        p.removesuffix("/pyproject.toml") for p in tree.paths if p.endswith("/pyproject.toml")
    )
    found: dict[str, Package] = {}
    for pattern in patterns:
        regex = _glob_regex(pattern)
        for folder in folders:
            if not regex.match(folder):
                continue
            meta = _toml(tree, f"{folder}/pyproject.toml")
            project = meta.get("project", {})
            name = _normalise(project.get("name", PurePosixPath(folder).name))
            deps = tuple(_normalise(_requirement_name(d)) for d in project.get("dependencies", []))
            found[name] = Package(
                name=name,
                path=folder,
                dependencies=deps,
                options=meta.get("tool", {}).get("flowfleet", {}),
                entry_points=dict(project.get("entry-points", {}).get("flowfleet", {})),
            )
    return found


def workspace_closure(package: str, members: Mapping[str, Package]) -> list[str]:
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


# --- uv.lock: one package's locked dependency set ------------------------------------------


# A lock entry's artifact lists: most of uv.lock's text, not needed to walk the graph.
_ARTIFACTS = re.compile(r"^(?:sdist|wheels) = (?:\{[^\n]*\}|\[\n.*?^\])\n", re.M | re.S)
_PACKAGE_HEADER = re.compile(r"^\[\[package\]\]\n", re.M)


class Lock:
    """uv.lock's packages, to walk one package's locked dependencies.

    Each `[[package]]` block is kept as text (its identity in a tag: name, version,
    source, dependencies, hashes) and parsed without its artifact lists, which keeps
    this cheap enough to run on every `list`, `plan` and `deploy`.
    """

    def __init__(self, text: str) -> None:
        self.entries: dict[str, list[dict[str, Any]]] = {}
        for block in _PACKAGE_HEADER.split(text)[1:]:
            try:
                entry = tomllib.loads("[[package]]\n" + _ARTIFACTS.sub("", block))["package"][0]
            except (tomllib.TOMLDecodeError, KeyError, IndexError) as exc:
                raise FlowfleetError(f"{LOCK_FILE}: malformed package entry: {exc}") from None
            entry["_text"] = block.strip()
            self.entries.setdefault(_normalise(entry["name"]), []).append(entry)

    def _targets(self, dep: Mapping[str, Any]) -> list[dict[str, Any]]:
        candidates = self.entries.get(_normalise(dep["name"]), [])
        if "version" in dep:
            candidates = [c for c in candidates if c.get("version") == dep["version"]]
        if "source" in dep:
            candidates = [c for c in candidates if c.get("source") == dep["source"]]
        return candidates

    def closure(self, package: str) -> list[str]:
        """The text of every lock entry `package` reaches through its (non-dev) dependencies
        and the extras they ask for, sorted."""
        seen: set[tuple[int, tuple[str, ...]]] = set()
        reached: set[str] = set()
        todo = [(e, ()) for e in self.entries.get(_normalise(package), [])]
        while todo:
            entry, extras = todo.pop()
            if (id(entry), extras) in seen:
                continue
            seen.add((id(entry), extras))
            reached.add(entry["_text"])
            deps = list(entry.get("dependencies", []))
            for extra in extras:
                deps.extend(entry.get("optional-dependencies", {}).get(extra, []))
            for dep in deps:
                for target in self._targets(dep):
                    todo.append((target, tuple(sorted(dep.get("extra", [])))))
        return sorted(reached)


# --- tags ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInputs:
    """One flow package's image: what it is made of and the tag that names it."""

    package: Package
    tag: str
    members: tuple[str, ...]  # the workspace packages in the image
    locked: int  # how many lock entries it reaches

    def reference(self, environment: Environment | None = None, tag: str | None = None) -> str:
        registry = environment.image_registry if environment else None
        name = self.package.image_name
        if registry and "/" not in name:
            name = f"{registry}/{name}"
        return f"{name}:{tag or self.tag}"


def compute(tree: Tree) -> dict[str, ImageInputs]:
    """The content-addressed tag of every flow package in `tree`."""
    members = packages(tree)
    lock = Lock((tree.read(LOCK_FILE) or b"").decode())
    recipe = tree.blob(DOCKERFILE) or "-"
    result = {}
    for name, package in sorted(members.items()):
        if not package.is_flow_package:
            continue
        closure = workspace_closure(name, members)
        digest = hashlib.sha256()
        digest.update(f"flowfleet-image v1\nrecipe {recipe}\n".encode())
        for member in closure:
            digest.update(f"member {member} {members[member].path}\n".encode())
            for path, blob in sorted(tree.under(members[member].path).items()):
                digest.update(f"file {path} {blob}\n".encode())
        locked = lock.closure(name)
        for entry in locked:
            digest.update(f"lock {entry}\n".encode())
        result[name] = ImageInputs(
            package, digest.hexdigest()[:TAG_LENGTH], tuple(closure), len(locked)
        )
    return result


def override_tag(explicit: str | None = None) -> str | None:
    """The tag that replaces every content tag: `explicit`, else `IMAGE_TAG`, else None."""
    return explicit or os.environ.get(IMAGE_TAG_ENV) or None


def image_tags(workspace: Workspace, override: str | None = None) -> dict[str, str]:
    """Package -> tag for every flow package in the working tree; an override wins."""
    images = compute(WorkingTree(workspace.root))
    tag = override_tag(override)
    return {name: tag or inputs.tag for name, inputs in images.items()}


class LazyImageTags(Mapping[str, str]):
    """`image_tags` computed on first use, so an environment without images pays nothing."""

    def __init__(self, workspace: Workspace, override: str | None = None) -> None:
        self._workspace = workspace
        self._override = override

    @cached_property
    def _tags(self) -> dict[str, str]:
        return image_tags(self._workspace, self._override)

    def __getitem__(self, key: str) -> str:
        override = override_tag(self._override)
        if override and key in self._names:  # no hashing needed
            return override
        return self._tags[key]

    @cached_property
    def _names(self) -> set[str]:
        return {
            n for n, p in packages(WorkingTree(self._workspace.root)).items() if p.is_flow_package
        }

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)

    def __bool__(self) -> bool:  # `tags or {}` must not compute them
        return True


def find(images: Mapping[str, ImageInputs], name: str) -> ImageInputs:
    """A flow package by distribution name (`sales-flows`), team (`sales`) or image name."""
    wanted = _normalise(name)
    for inputs in images.values():
        p = inputs.package
        if wanted in {p.name, _normalise(p.team), _normalise(p.image_name)}:
            return inputs
    known = ", ".join(f"{i.package.team} ({i.package.name})" for i in images.values()) or "none"
    raise FlowfleetError(f"unknown flow package '{name}' (known: {known})")


def changed(
    workspace: Workspace, base_ref: str | None, environment: Environment | None = None
) -> dict[str, Any]:
    """The flow packages whose tag differs from `base_ref`'s, as a GitHub Actions matrix.

    No base (or a package that did not exist at the base) counts as changed.
    """
    now = compute(WorkingTree(workspace.root))
    before = compute(GitTree(workspace.root, base_ref)) if base_ref else {}
    include = []
    for name, inputs in now.items():
        if name in before and before[name].tag == inputs.tag:
            continue
        include.append(
            {
                "package": name,
                "team": inputs.package.team,
                "path": inputs.package.path,
                "image": inputs.reference(environment).rsplit(":", 1)[0],
                "tag": inputs.tag,
            }
        )
    return {"include": include}
