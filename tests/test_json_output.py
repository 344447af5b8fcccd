"""`print_json` prints exactly what `print(json.dumps(data, indent=2))` prints."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from flowfleet import secrets
from flowfleet.json_output import print_json, print_json_array

ROWS = [
    {
        "name": f"flow-{i}/d{i}",
        "schedules": [{"cron": "0 * * * *", "timezone": "Europe/Berlin"}] if i % 2 else [],
        "job_variables": {"cpu": 256, "env": {}, "labels": ["a", 'ü\n"quoted"']},
        "paused": i % 3 == 0,
        "ratio": i / 7,
        "missing": None,
    }
    for i in range(700)  # more fragments than one write
]


@pytest.mark.parametrize(
    "data",
    [ROWS, [], {}, "just a string", 3, {"ok": True, "problems": [], "nested": {"a": [[], {}]}}],
    ids=["many rows", "empty list", "empty dict", "string", "number", "nested"],
)
def test_the_same_bytes_as_json_dumps(data) -> None:
    out = io.StringIO()
    print_json(data, file=out)
    assert out.getvalue() == json.dumps(data, indent=2) + "\n"


def test_default_serialises_what_json_cannot() -> None:
    data = {"at": datetime(2026, 12, 4, tzinfo=UTC), "rows": ROWS[:3]}
    out = io.StringIO()
    print_json(data, default=str, file=out)
    assert out.getvalue() == json.dumps(data, indent=2, default=str) + "\n"


class Recorder(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


@pytest.mark.parametrize("printer", [print_json, print_json_array], ids=["document", "array"])
def test_a_long_document_is_cut_only_between_items(printer) -> None:
    out = Recorder()
    printer(ROWS, file=out)
    assert out.getvalue() == json.dumps(ROWS, indent=2) + "\n"
    assert len(out.writes) > 2
    assert all(write.startswith(",\n") for write in out.writes[1:])


def test_a_secret_pair_is_masked_by_the_scrubbed_stdout_wherever_the_writes_fall() -> None:
    """stdout scrubs each write alone: a key cut from its value would print unmasked."""
    rows = [{"name": f"d{i}", "env": {"password": f"hunter2-{i:05d}"}} for i in range(5000)]
    for printer in (print_json, print_json_array):
        target = io.StringIO()
        printer(rows, file=secrets._Scrubbed(target))
        assert "hunter2-" not in target.getvalue()
        assert target.getvalue().count('"password": "****"') == len(rows)


@pytest.mark.parametrize(
    "items",
    [ROWS, [], [[]], [{}], ["a\nb", 1, None, [1, [2, {"x": "\u2028 ü"}]]], [{"ok": True}]],
    ids=["many rows", "empty", "empty list item", "empty dict item", "mixed", "one"],
)
def test_an_array_from_an_iterator_is_the_same_bytes(items) -> None:
    out = io.StringIO()
    print_json_array(iter(items), file=out)
    assert out.getvalue() == json.dumps(items, indent=2) + "\n"
