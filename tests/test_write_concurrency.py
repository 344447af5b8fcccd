"""`--concurrency`: a number, or `auto`, which times the server (write_concurrency.py).

The choice itself runs against a real server, near and behind a slow proxy, in
tests/test_deploy_engine.py."""

from __future__ import annotations

import pytest

from flowfleet.write_concurrency import (
    AUTO,
    NEAR_MS,
    TRIAL_MIN,
    WRITERS,
    Writers,
    after_trial,
    choose,
    parse,
)


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
    ("round_trips", "writes", "writers", "trial"),
    [
        ([0.8, 1.1, 0.9], 10, 1, None),  # loopback, few writes
        ([0.8, 1.1, 0.9], TRIAL_MIN, 1, {}),  # loopback, enough writes to try several
        ([3.0, 45.0, 60.0], 10, 1, None),  # a busy moment: the fastest answer counts
        ([NEAR_MS, NEAR_MS + 5, NEAR_MS + 1], 10, WRITERS, None),
        ([120.0, 95.0, 140.0], 5000, WRITERS, None),  # Prefect Cloud: no trial needed
    ],
)
def test_choose(round_trips: list[float], writes: int, writers: int, trial: dict | None) -> None:
    chosen = choose(round_trips, writes)
    assert (chosen.count, chosen.chosen, chosen.round_trip_ms) == (writers, AUTO, min(round_trips))
    assert chosen.trial_ms == trial and chosen.wants_trial == (trial == {})


@pytest.mark.parametrize(
    ("alone", "together", "writers"),
    [
        (21.0, 106.0, 1),  # SQLite on this machine: writers queue on its lock
        (16.0, 12.0, WRITERS),  # PostgreSQL on this machine: 0.75x
        (16.0, 15.0, 1),  # 0.94x: within noise, one writer is kept
        (16.0, 14.4, WRITERS),  # exactly 0.9x
    ],
)
def test_after_trial(alone: float, together: float, writers: int) -> None:
    tried = after_trial(choose([0.8], TRIAL_MIN), alone, together)
    assert tried.count == writers
    assert tried.trial_ms == {1: alone, WRITERS: together} and not tried.wants_trial


def test_the_report_says_why() -> None:
    assert Writers(count=2, chosen="set").describe() == "2 at once, as set"
    assert choose([0.84]).describe() == "1 at once (auto: near server, 0.8 ms round trip)"
    assert choose([95.0]).describe() == "4 at once (auto: remote server, 95 ms round trip)"
    assert Writers(count=1, chosen=AUTO).describe() == "1 at once (auto; the server was not timed)"
    tried = after_trial(choose([0.84], TRIAL_MIN), 16.0, 12.0)
    assert tried.describe() == (
        "4 at once (auto: near server, 0.8 ms round trip; "
        "a write took 16 ms alone, 12 ms with 4 at once)"
    )
