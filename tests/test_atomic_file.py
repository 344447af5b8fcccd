"""Cache files written by several commands at once stay whole, and no writer fails."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from flowfleet import atomic_file


def test_writers_racing_on_one_file_all_succeed_and_leave_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "prod.json"
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(n: int) -> None:
        start.wait()
        try:
            for i in range(300):
                atomic_file.write_text(path, json.dumps({"writer": n, "i": i, "pad": "x" * 4000}))
        except BaseException as exc:  # noqa: BLE001 - any failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert json.loads(path.read_text())["i"] == 299
    assert [p.name for p in tmp_path.iterdir()] == ["prod.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "prod.json"
    path.write_text("old")

    with pytest.raises(UnicodeEncodeError):
        atomic_file.write_text(path, "\udcff")  # a lone surrogate cannot be written as UTF-8
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["prod.json"]
