"""How many prewarm workers a cold run starts, and how the packages are shared out.

The workers themselves run in tests/test_cache.py (real processes, real cache)."""

from __future__ import annotations

import sys

import pytest

from flowfleet.prewarm import (
    BATCH,
    MAX_AUTO,
    MIN_SHARE,
    batch_size,
    batches,
    release,
    shares,
    worker_count,
)


@pytest.mark.parametrize(
    ("missed", "setting", "cpus", "expected"),
    [
        (500, "", 2, 2),  # auto: one per CPU
        (500, "auto", 16, MAX_AUTO),  # never more than MAX_AUTO by default
        (2 * MIN_SHARE - 1, "", 8, 1),  # too few packages for two shares: one
        (MIN_SHARE - 1, "", 8, 0),  # too few for one: the command imports them itself
        (3 * MIN_SHARE, "", 8, 3),
        (500, "", 1, 1),  # one CPU: one worker, so the flows never live in the command
        (500, "1", 8, 1),
        (500, "0", 8, 0),  # turned off
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


def test_batches_keep_the_share_in_order_and_lose_none() -> None:
    share = [f"team-{i:02d}" for i in range(5)]
    assert batches(share, 2) == [["team-00", "team-01"], ["team-02", "team-03"], ["team-04"]]
    assert batches(share, 16) == [share]
    assert batch_size("3") == 3
    assert batch_size("") == batch_size("0") == batch_size("lots") == BATCH


def test_release_lets_go_of_a_batch_and_keeps_what_others_share() -> None:
    """A worker's batch: its registrations and its own modules go, a shared library stays."""
    import gc
    import types

    import pluggy

    from flowfleet import DeploymentConfig
    from flowfleet.loader import Fleet
    from flowfleet.plugin_manager import Plugins
    from flowfleet.registry import Registration, Registry

    names = ["zz_released_team", "zz_released_team.flows", "zz_shared_library", "zz_ns.a"]
    registry = Registry("zz_released_team")
    registry.registrations.append(Registration(object(), DeploymentConfig(), names[1], "f:1"))
    namespaced = Registry("zz_ns")  # a top that another batch's registry also names
    fleet = Fleet(Plugins(pluggy.PluginManager("flowfleet")), registries=[registry, namespaced])
    try:
        sys.modules.update({name: types.ModuleType(name) for name in names})
        release(fleet, keep=frozenset({"zz_ns"}))
        assert [name for name in names if name in sys.modules] == ["zz_shared_library", "zz_ns.a"]
        assert (registry.registrations, fleet.registries) == ([], [])
    finally:
        gc.unfreeze()  # release freezes what survives: not this test process's heap
        for name in names:
            sys.modules.pop(name, None)
