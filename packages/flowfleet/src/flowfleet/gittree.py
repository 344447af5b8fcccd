"""A workspace's files, now (the working tree) or at a commit, hashed as git blobs.

The same content gives the same blob id whether it is read from disk or from a
commit (`git ls-tree`), so image tags and workspace members can be compared across
commits without a checkout. Outside a git repository the working tree is walked.
This module is the only one that lists the workspace's files.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import subprocess
import time
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
# A file changed this recently may change again without its stat showing it (a coarse
# mtime clock): git calls it racy and reads it again, and so does WorkingTree.
_RACY_NS = 2_000_000_000


def _skipped(path: str) -> bool:
    parts = path.split("/")
    return (
        path.endswith(_SKIP_SUFFIXES)
        or any(p in _SKIP_DIRS or p.endswith(".egg-info") for p in parts[:-1])
        or parts[-1] == ".DS_Store"
    )


def blob_id(content: bytes) -> str:
    """Git's object id for a blob with this content."""
    return _blob_digest(content).hex()


def _blob_digest(content: bytes) -> bytes:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).digest()


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
        paths = self.paths  # sorted: the folder's files are one run, found by bisection
        found = {}
        for path in paths[bisect.bisect_left(paths, prefix) :]:
            if not path.startswith(prefix):
                break
            if (blob := self.blob(path)) is not None:
                found[path] = blob
        return found


class WorkingTree(Tree):
    """The files on disk: git-tracked and untracked-but-not-ignored, or every file.

    Only the files asked for are read and hashed, each once while its stat holds: the
    image tags (git blob ids) and the resolution cache's keys (sha256, `sha256`) read
    the same files, and reading 10,000 twice cost 0.5 s of a warm `validate`.

    Each file is kept as one flat tuple with binary digests: the command and every
    prewarm worker hash the whole workspace, 11,000 files at 10,000 deployments.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        # path -> (mtime_ns, size, inode, sha256 digest, blob digest)
        self._hashes: dict[str, tuple[int, int, int, bytes, bytes]] = {}

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
        full = self.root / path
        if full.is_symlink():
            return blob_id(os.readlink(full).encode())
        found = self._hashed(str(full))
        if isinstance(found, FileNotFoundError | IsADirectoryError | NotADirectoryError):
            return None  # tracked, deleted on disk
        if isinstance(found, OSError):
            raise found
        return found[1]

    def sha256(self, full: str) -> str:
        """sha256 of the file at `full` (any path, symlinks followed); "-" when unreadable."""
        found = self._hashed(full)
        return "-" if isinstance(found, OSError) else found[0]

    def _hashed(self, full: str) -> tuple[str, str] | OSError:
        """(sha256, blob id), read again only when the file's stat changed, as git does."""
        try:
            stat = os.stat(full)
            seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            racy = time.time_ns() - stat.st_mtime_ns < _RACY_NS  # an edit in the same tick
            if (kept := self._hashes.get(full)) and kept[:3] == seen and not racy:
                return kept[3].hex(), kept[4].hex()
            content = Path(full).read_bytes()
        except OSError as exc:
            return exc
        sha256, blob = hashlib.sha256(content).digest(), _blob_digest(content)
        self._hashes[full] = (*seen, sha256, blob)
        return sha256.hex(), blob.hex()

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
