"""`--concurrency`: a number, or `auto`, which times the server (write_concurrency.py).

The choice itself runs against a real server, near and behind a slow proxy, in
tests/test_deploy_engine.py."""

from __future__ import annotations

import pytest

from flowfleet.write_concurrency import AUTO, NEAR_MS, REMOTE_WRITERS, Writers, choose, parse


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1", 1), ("4", 4), ("32", 32), ("auto", None), (" AUTO ", None)],
)
def test_parse(given: str, expected: int | None) -> None:
    assert parse(given) == expected


@pytest.mark.parametrize("given", ["0", "33", "-1", "many", "2.5", ""])
def test_parse_refuses_with_the_allowed_values(given: str) -> None:
    with pytest.raises(ValueError, match=f"takes a number from 1 to 32 or 'auto', not '{given}'"):
        parse(given)


@pytest.mark.parametrize(
    ("round_trips", "writers"),
    [
        ([0.8, 1.1, 0.9], 1),  # loopback
        ([3.0, 45.0, 60.0], 1),  # a near server in a busy moment: the fastest answer counts
        ([NEAR_MS, NEAR_MS + 5, NEAR_MS + 1], REMOTE_WRITERS),
        ([120.0, 95.0, 140.0], REMOTE_WRITERS),  # Prefect Cloud from another continent
    ],
)
def test_choose(round_trips: list[float], writers: int) -> None:
    chosen = choose(round_trips)
    assert (chosen.count, chosen.chosen, chosen.round_trip_ms) == (writers, AUTO, min(round_trips))


def test_the_report_says_why() -> None:
    assert Writers(count=2, chosen="set").describe() == "2 at once, as set"
    assert choose([0.84]).describe() == "1 at once (auto: near server, 0.8 ms round trip)"
    assert choose([95.0]).describe() == "4 at once (auto: remote server, 95 ms round trip)"
    assert Writers(count=1, chosen=AUTO).describe() == "1 at once (auto; the server was not timed)"
