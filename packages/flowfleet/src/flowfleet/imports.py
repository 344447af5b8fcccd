"""Which files a package's resolution read: every module it imported, recorded as it imports.

The resolution cache (cache.py) keys a package on these files. Git's view of the
workspace is not enough: a flow registered under `build/` or in a git-ignored folder,
or a constant in an editable path dependency outside the workspace, changes what a
package resolves to without changing a file git shows. So the imports themselves are
watched, from before the plugins load:

- `builtins.__import__` (every `import` statement, also one that finds its module
  already loaded by another package) and `importlib.import_module` record an edge
  from the importing module to the imported one, and a name that failed to import;
- a package's files are the closure of those edges from its own modules. It stops at
  the standard library and at installed (non-editable) distributions, which
  `installed_fingerprint()` keys as a whole (the interpreter and every RECORD file);
- every top-level name reached is found again on `sys.meta_path` at lookup
  (`locate`), so a new module that would shadow an imported one, or one that failed
  to import and now exists, misses the cache.

A file is hashed when its module is first seen imported, and again when a package is
stored: a file edited while the fleet loaded is never stored against the old result.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib
import os
import site
import sys
import sysconfig
import threading
from collections.abc import Iterable
from importlib.machinery import PathFinder
from pathlib import Path

from flowfleet import path_index

_ORIGINAL_IMPORT = builtins.__import__
_ORIGINAL_IMPORT_MODULE = importlib.import_module
_edges: dict[str, set[str]] = {}  # importer -> imported module names (absolute)
_first_seen: dict[str, str] = {}  # file -> sha256 when its module was first seen imported
_seen_modules: set[str] = set()
_lock = threading.RLock()  # imports may run on several threads (the server prefetch)
_started = False


def started() -> bool:
    return _started


def start() -> None:
    """Record every import from now on, in this process. Idempotent."""
    global _started
    with _lock:
        if _started:
            return
        builtins.__import__ = _import
        importlib.import_module = _import_module
        _started = True


def digest(path: str) -> str:
    """sha256 of a file's bytes; "-" when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return "-"


def _import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
    try:
        module = _ORIGINAL_IMPORT(name, globals, locals, fromlist, level)
    except ImportError:
        _note(globals, name, level, ())
        raise
    _note(globals, name, level, fromlist)
    return module


def _import_module(name: str, package: str | None = None):
    caller = sys._getframe(1).f_globals
    try:
        module = _ORIGINAL_IMPORT_MODULE(name, package)
    except ImportError:
        level = len(name) - len(name.lstrip("."))
        _note(caller, name.lstrip("."), level, (), package)
        raise
    _note(caller, module.__name__, 0, ())
    return module


def _note(globals, name: str, level: int, fromlist, package: str | None = None) -> None:  # noqa: A002
    with _lock, contextlib.suppress(Exception):  # recording must never break an import
        _record(globals, name, level, fromlist, package)


def _record(globals, name: str, level: int, fromlist, package: str | None) -> None:  # noqa: A002
    importer = globals.get("__name__") if isinstance(globals, dict) else None
    if not importer:
        return
    target = _absolute(name, level, package or globals.get("__package__") or importer)
    if not target:
        return
    targets = [target]
    for item in fromlist or ():
        if item != "*" and f"{target}.{item}" in sys.modules:
            targets.append(f"{target}.{item}")
    edges = _edges.setdefault(importer, set())
    for found in targets:
        edges.add(found)
        if found not in _seen_modules:
            _seen_modules.add(found)
            file = getattr(sys.modules.get(found), "__file__", None)
            if file and not installed(file):
                _first_seen.setdefault(file, digest(file))


def _absolute(name: str, level: int, package: str) -> str | None:
    """importlib's own rule for a relative import's absolute name."""
    if not level:
        return name
    bits = package.rsplit(".", level - 1)
    if len(bits) < level:
        return None
    return f"{bits[0]}.{name}" if name else bits[0]


# --- what counts as installed: keyed as a whole, not file by file -------------------------


def _installed_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    folders = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    folders.update(site.getsitepackages())
    roots = set()
    for folder in folders:
        for variant in (folder, os.path.realpath(folder)):
            roots.add(variant.rstrip(os.sep) + os.sep)
    return tuple(sorted(roots))


_INSTALLED = _installed_roots()


def installed(file: str) -> bool:
    """True for the standard library and non-editable installed distributions."""
    return file.startswith(_INSTALLED)


def installed_fingerprint() -> str:
    """The interpreter and every installed distribution, by its RECORD (file hashes)."""
    found = hashlib.sha256(f"{sys.version}\n{sys.executable}\n".encode())
    for folder in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}):
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".dist-info"):
                found.update(f"{entry} {digest(os.path.join(folder, entry, 'RECORD'))}\n".encode())
            elif entry.endswith(".pth"):  # editable installs and extra sys.path entries
                found.update(f"{entry} {digest(os.path.join(folder, entry))}\n".encode())
    return found.hexdigest()


# --- a package's files ------------------------------------------------------------------------


_located: dict[str, str | None] = {}


def locate(top: str) -> str | None:
    """Where an import of the top-level name `top` would find it now (ignoring sys.modules)."""
    if top not in _located:
        origin = None
        for finder in sys.meta_path:
            if finder is path_index.IndexedFinder:
                continue  # it stands for PathFinder, asked below through the index
            find = getattr(finder, "find_spec", None)
            if finder is PathFinder:  # the same answer, without probing every entry
                find = path_index.current().find_spec
            try:
                spec = find(top, None) if find else None
            except Exception:
                spec = None
            if spec is not None:
                locations = list(spec.submodule_search_locations or [])
                origin = spec.origin if spec.has_location else None
                origin = origin or "namespace:" + os.pathsep.join(locations)
                break
        _located[top] = origin
    return _located[top]


def forget_located() -> None:
    """Find top-level names afresh (a test changed `sys.path` or wrote a module)."""
    _located.clear()
    path_index.forget()
    importlib.invalidate_caches()


def closure(roots: Iterable[str]) -> tuple[dict[str, str], dict[str, str | None]]:
    """(file -> sha256 when first seen, top-level name -> where it was found) of every
    module reachable from `roots` through recorded imports."""
    files: dict[str, str] = {}
    tops: dict[str, str | None] = {}
    todo = list(roots)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parent, _, _ = name.rpartition(".")
        if parent:
            todo.append(parent)
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in sys.builtin_module_names:
            continue
        if top not in tops:
            tops[top] = locate(top)
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if file and installed(file):
            continue  # keyed by installed_fingerprint(); its imports are installed too
        if file:
            files[file] = _first_seen.get(file) or digest(file)
        with _lock:
            todo.extend(_edges.get(name, ()))
    return files, tops


def package_modules(top: str) -> list[str]:
    """The names of every loaded module of the package `top`."""
    return [m for m in list(sys.modules) if m == top or m.startswith(top + ".")]


def source_folders(top: str) -> list[Path]:
    """The folders the package `top` imports its modules from (its `__path__`)."""
    module = sys.modules.get(top)
    return [Path(p) for p in getattr(module, "__path__", None) or []]


def walk(
    folder: Path, skip: frozenset[str] = frozenset({"__pycache__"}), hash_file=digest
) -> list[str]:
    """`relative-path sha256` of every file under `folder`, sorted, no bytecode
    (`hash_file`: a reader that remembers what it read, such as `WorkingTree.sha256`)."""
    lines = []
    visited: set[str] = set()
    for current, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in visited:  # a symlink loop
            dirs[:] = []
            continue
        visited.add(real)
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for name in sorted(names):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(current, name)
            lines.append(f"{os.path.relpath(path, folder)} {hash_file(path)}")
    return lines
