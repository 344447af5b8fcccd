"""How many prewarm workers a cold run starts, and how the packages are shared out.

The workers themselves run in tests/test_cache.py (real processes, real cache)."""

from __future__ import annotations

import pytest

from flowfleet.prewarm import MAX_AUTO, MIN_SHARE, shares, worker_count


@pytest.mark.parametrize(
    ("missed", "setting", "cpus", "expected"),
    [
        (500, "", 2, 2),  # auto: one per CPU
        (500, "auto", 16, MAX_AUTO),  # never more than MAX_AUTO by default
        (2 * MIN_SHARE - 1, "", 8, 1),  # too few packages for two shares: none
        (3 * MIN_SHARE, "", 8, 3),
        (500, "", 1, 1),  # one CPU: the command imports alone
        (500, "1", 8, 1),  # turned off
        (500, "0", 8, 0),
        (2, "2", 1, 2),  # a number is obeyed, whatever the CPUs
        (3, "8", 8, 3),  # never more workers than packages
    ],
)
def test_worker_count(missed: int, setting: str, cpus: int, expected: int) -> None:
    assert worker_count(missed, setting, cpus) == expected


def test_shares_deal_sorted_names_round_robin_and_lose_none() -> None:
    names = [f"team-{i:02d}" for i in range(7)][::-1]
    dealt = shares(names, 3)
    assert dealt == [
        ["team-00", "team-03", "team-06"],
        ["team-01", "team-04"],
        ["team-02", "team-05"],
    ]
    assert shares(["a"], 4) == [["a"]]  # no empty share, so no idle worker
