"""Find top-level modules by one listing of `sys.path`, not by probing every entry.

A uv workspace installs each member editable, so each member's source folder is an
entry on `sys.path`: 500 team packages, 500 entries. Python's `PathFinder` asks every
entry in turn for every top-level name, so loading 500 registries, and checking 500
cached packages' top-level names, made 265,908 `FileFinder.find_spec` calls: 7.9 s of
a 22 s profile of a warm `validate` at 10,000 deployments (docs/benchmarks.md). The
cost grows as packages x entries.

`PathIndex` lists each entry's directory once and keeps, per name stem, the entries
that could hold it. `PathFinder.find_spec(name, candidates)` then asks only those, in
`sys.path` order, so it answers what the full search would: a directory with no file
or folder of that stem cannot hold the module, and an entry that is not a directory
(a zip file, say) or the working directory ("") is always asked. A name the index
does not know falls through to the full search, so a module written after the
listing is still found.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from importlib.machinery import ModuleSpec, PathFinder


class PathIndex:
    """The `sys.path` entries that might hold each top-level name, listed once."""

    def __init__(self, path: list[str]) -> None:
        self.path = list(path)
        self._by_stem: dict[str, list[int]] = {}
        self._always: list[int] = []  # entries that are not listable directories
        for position, entry in enumerate(self.path):
            try:
                if not entry:  # the working directory, wherever it is when asked
                    raise NotADirectoryError(entry)
                names = os.listdir(entry)
            except OSError:
                self._always.append(position)
                continue
            for stem in {name.partition(".")[0] for name in names}:
                self._by_stem.setdefault(stem, []).append(position)

    def candidates(self, name: str) -> list[str]:
        """The entries to ask for the top-level module `name`, in `sys.path` order."""
        found = self._by_stem.get(name, [])
        positions = sorted([*found, *self._always]) if self._always else found
        return [self.path[p] for p in positions]

    def knows(self, name: str) -> bool:
        return name in self._by_stem

    def find_spec(self, name: str, target=None) -> ModuleSpec | None:
        """What `PathFinder.find_spec(name)` answers over all of `sys.path`."""
        entries = self.candidates(name)
        return PathFinder.find_spec(name, entries, target) if entries else None


_index: PathIndex | None = None


def current() -> PathIndex:
    """The index of `sys.path` as it is now; listed again when `sys.path` changed."""
    global _index
    if _index is None or _index.path != sys.path:
        _index = PathIndex(sys.path)
    return _index


def forget() -> None:
    """List the entries afresh on next use (a test wrote a module)."""
    global _index
    _index = None


class IndexedFinder:
    """A meta path finder in front of `PathFinder` for top-level names the index knows.

    Submodules (`path` given) and unknown names are left to `PathFinder`, unchanged.
    """

    @classmethod
    def find_spec(cls, fullname: str, path=None, target=None) -> ModuleSpec | None:
        if path is not None or "." in fullname:
            return None
        index = current()
        return index.find_spec(fullname, target) if index.knows(fullname) else None

    @classmethod
    def invalidate_caches(cls) -> None:
        forget()


@contextlib.contextmanager
def indexed_imports() -> Iterator[None]:
    """Imports in this block find top-level modules through the index."""
    if IndexedFinder in sys.meta_path:
        yield
        return
    at = sys.meta_path.index(PathFinder) if PathFinder in sys.meta_path else len(sys.meta_path)
    sys.meta_path.insert(at, IndexedFinder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(IndexedFinder)
