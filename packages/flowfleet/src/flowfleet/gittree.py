"""A workspace's files, now (the working tree) or at a commit, hashed as git blobs.

The same content gives the same blob id whether it is read from disk or from a
commit (`git ls-tree`), so image tags and workspace members can be compared across
commits without a checkout. Outside a git repository the working tree is walked.
This module is the only one that lists the workspace's files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from flowfleet.problems import FlowfleetError

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
