"""The `sys.path` index answers exactly what Python's own full search answers."""

from __future__ import annotations

import importlib
import sys
import zipfile
from importlib.machinery import PathFinder, all_suffixes
from pathlib import Path

import pytest

from flowfleet import imports, path_index
from flowfleet.path_index import PathIndex, indexed_imports

EXTENSION = next(s for s in all_suffixes() if s.endswith(".so") and s != ".so")


def where(spec) -> tuple | None:
    if spec is None:
        return None
    return (spec.origin, list(spec.submodule_search_locations or []), type(spec.loader).__name__)


@pytest.fixture
def entries(tmp_path: Path) -> list[str]:
    """Ten path entries holding every kind of top-level module Python finds on a path."""
    folders = [tmp_path / f"entry{i}" for i in range(10)]
    for folder in folders:
        folder.mkdir()
    (folders[1] / "regular").mkdir()
    (folders[1] / "regular" / "__init__.py").write_text("")
    (folders[2] / "single.py").write_text("")
    (folders[3] / "spread").mkdir()  # a namespace package in two entries
    (folders[7] / "spread").mkdir()
    (folders[4] / "twice.py").write_text("first = True\n")  # the first entry wins
    (folders[8] / "twice.py").write_text("first = False\n")
    (folders[5] / f"compiled{EXTENSION}").write_bytes(b"")  # found, never loaded here
    (folders[6] / "late.py").write_text("")
    archive = tmp_path / "bundle.zip"  # an entry that is not a folder: always asked
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("zipped.py", "")
    return (
        [str(f) for f in folders[:5]]
        + [str(archive), str(tmp_path / "missing")]
        + [str(f) for f in folders[5:]]
    )


NAMES = ["regular", "single", "spread", "twice", "compiled", "late", "zipped", "absent"]


def test_the_index_finds_what_the_full_search_finds(entries: list[str]) -> None:
    index = PathIndex(entries)
    for name in NAMES:
        assert where(index.find_spec(name)) == where(PathFinder.find_spec(name, entries)), name
    assert where(index.find_spec("absent")) is None
    assert index.find_spec("twice").origin.endswith("entry4/twice.py")
    assert len(index.find_spec("spread").submodule_search_locations) == 2


def test_only_entries_that_list_the_name_are_asked(entries: list[str]) -> None:
    index = PathIndex(entries)
    always = [e for e in entries if e.endswith(("bundle.zip", "missing"))]
    assert index.candidates("single") == [entries[2], *always]
    ends = ("entry4", "bundle.zip", "missing", "entry8")  # in sys.path order
    assert index.candidates("twice") == [e for e in entries if e.endswith(ends)]
    assert index.candidates("absent") == always


def test_imports_through_the_index_match_imports_without_it(
    entries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", [*entries, *sys.path])
    for name in NAMES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    try:
        with indexed_imports():
            assert path_index.IndexedFinder in sys.meta_path
            assert importlib.import_module("twice").first is True
            assert importlib.import_module("regular").__file__.endswith("regular/__init__.py")
            assert importlib.import_module("zipped").__file__.endswith("zipped.py")
            # Written after the index was listed: unknown to it, found by the full search.
            Path(entries[0], "written_later.py").write_text("VALUE = 1\n")
            importlib.invalidate_caches()
            assert importlib.import_module("written_later").VALUE == 1
        assert path_index.IndexedFinder not in sys.meta_path
    finally:
        for name in [*NAMES, "written_later"]:
            sys.modules.pop(name, None)


def test_a_changed_sys_path_is_listed_again(
    entries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", entries[:2])
    assert path_index.current().find_spec("single") is None
    monkeypatch.setattr(sys, "path", entries[:3])
    assert path_index.current().find_spec("single").origin.endswith("single.py")


def test_the_cache_check_locates_names_through_the_index(
    entries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", entries)
    imports.forget_located()
    try:
        assert imports.locate("twice").endswith("entry4/twice.py")
        assert imports.locate("spread").startswith("namespace:")
        assert imports.locate("absent") is None
    finally:
        imports.forget_located()
