"""Pages held back while prewarm workers run give the same rows as pages parsed at once."""

from __future__ import annotations

import json

import pytest

from flowfleet.paging import PagedRows


def page(*ids: str) -> tuple[list[dict], bytes]:
    rows = [{"id": i, "name": f"row-{i}"} for i in ids]
    content = json.dumps(rows).encode()
    return json.loads(content), content


PAGES = [page("a", "b"), page("c", "b"), page("d")]  # `b` repeats: a row created mid-read


def read(hold_at: set[int]) -> PagedRows:
    """The PAGES, holding back those whose index is in `hold_at`."""
    arriving = iter(range(len(PAGES)))
    current = {"index": -1}

    def hold() -> bool:
        return current["index"] in hold_at

    rows = PagedRows(lambda row: (row["id"], row["name"].upper()), hold)
    for rows_of_page, content in PAGES:
        current["index"] = next(arriving)
        rows.add(rows_of_page, content)
    return rows


def test_held_pages_parse_to_the_same_rows_in_the_same_order():
    expected = [("a", "ROW-A"), ("b", "ROW-B"), ("c", "ROW-C"), ("d", "ROW-D")]
    for hold_at in (set(), {0}, {1}, {0, 1, 2}, {1, 2}):
        rows = read(hold_at)
        assert rows.values() == expected, hold_at
        assert rows.held == 0


def test_the_first_page_after_the_hold_parses_those_held():
    assert read({0, 1, 2}).held == 3  # still held: parsed only when asked for
    assert read({1, 2}).held == 2
    assert read({0, 1}).held == 0  # the last page came after the hold: all parsed


@pytest.mark.parametrize("hold_first", [True, False])
def test_the_first_copy_of_a_repeated_row_wins_held_or_not(hold_first):
    first = {"id": "x", "name": "first"}
    later = {"id": "x", "name": "later"}
    holding = {"now": hold_first}
    rows = PagedRows(None, lambda: holding["now"])
    rows.add([first], json.dumps([first]).encode())
    holding["now"] = not hold_first
    rows.add([later], json.dumps([later]).encode())
    assert rows.held == (0 if hold_first else 1)  # a page parsed after parses those held
    assert rows.values() == [first]
