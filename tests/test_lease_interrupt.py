"""Server-free: the deploy lease's settings and name, and the Ctrl-C summary."""

from __future__ import annotations

import pytest

from flowfleet.apply import Outcome
from flowfleet.interrupt import ApplyLog
from flowfleet.lease import MIN_TTL, LeaseSettings, held_line, limit_name
from flowfleet.plan import Change, Plan
from flowfleet.problems import FlowfleetError


def test_lease_settings_come_from_the_environment_and_respect_prefects_floor(monkeypatch):
    monkeypatch.delenv("FLOWFLEET_LOCK_WAIT", raising=False)
    monkeypatch.delenv("FLOWFLEET_LOCK_TTL", raising=False)
    assert LeaseSettings.from_env() == LeaseSettings(wait=600.0, ttl=60.0)
    monkeypatch.setenv("FLOWFLEET_LOCK_WAIT", "0")
    monkeypatch.setenv("FLOWFLEET_LOCK_TTL", "5")  # Prefect refuses a lease under 60 s
    assert LeaseSettings.from_env() == LeaseSettings(wait=0.0, ttl=MIN_TTL)
    assert LeaseSettings.from_env(wait=30).wait == 30  # --lock-wait beats the variable
    monkeypatch.setenv("FLOWFLEET_LOCK_TTL", "soon")
    with pytest.raises(FlowfleetError, match="FLOWFLEET_LOCK_TTL='soon' is not a number"):
        LeaseSettings.from_env()


def test_the_limit_name_is_one_per_project_and_environment_and_one_prefect_accepts():
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    assert limit_name("acme", "prod") == "flowfleet-deploy:acme:prod"
    assert limit_name("acme", "prod") != limit_name("acme", "dev")
    odd = limit_name("a/b%c", "e&<>")
    GlobalConcurrencyLimitCreate(name=odd, limit=1)  # Prefect's own name check passes
    assert odd == "flowfleet-deploy:a_b_c:e___"


def test_the_refusal_is_one_line_naming_the_lease_and_the_way_out():
    line = held_line("flowfleet-deploy:acme:prod", LeaseSettings(wait=0, ttl=60), 0.2)
    assert "\n" not in line
    assert "flowfleet-deploy:acme:prod" in line and "FLOWFLEET_LOCK_WAIT" in line
    assert "within 60 s" in line


def plan_of(creates: int, updates: int = 0) -> Plan:
    return Plan(
        environment="prod",
        project="acme",
        api_url="http://127.0.0.1:1/api",
        create=[Change(full_name=f"f/c{i}", action="create") for i in range(creates)],
        update=[Change(full_name=f"f/u{i}", action="update") for i in range(updates)],
    )


def test_interrupted_before_the_plan_says_nothing_was_written():
    assert ApplyLog().summary() == [
        "interrupted before anything was written: the server is as it was"
    ]


def test_interrupted_mid_apply_counts_and_names_what_was_and_was_not_applied():
    seen: list[str] = []
    log = ApplyLog(forward=lambda o: seen.append(o.full_name))
    log.planned(plan_of(creates=13, updates=1))
    log(Outcome(full_name="f/c0", status="created"))
    log(Outcome(full_name="f/u0", status="updated"))
    log(Outcome(full_name="f/c1", status="failed", details="422"))
    assert seen == ["f/c0", "f/u0", "f/c1"]  # the progress lines still print
    first, applied, failed, pending, hint = log.summary()
    assert first == "interrupted: applied 2 of 14 changes, 11 not applied, 1 failed"
    assert applied == "applied: created f/c0, updated f/u0"
    assert failed == "failed: f/c1"
    assert pending.startswith("not applied: f/c2, f/c3, ") and pending.endswith(" and 1 more")
    listed = pending.removeprefix("not applied: ").removesuffix(" and 1 more").split(", ")
    assert listed == [f"f/c{i}" for i in range(2, 12)]  # neither the applied nor the failed
    assert "`plan` shows what is left" in hint


def test_interrupted_after_the_last_write_lists_nothing_as_pending():
    log = ApplyLog()
    log.planned(plan_of(creates=1))
    log(Outcome(full_name="f/c0", status="created"))
    assert log.summary() == [
        "interrupted: applied 1 of 1 changes, 0 not applied",
        "applied: created f/c0",
    ]


def test_ctrl_c_inside_prints_the_summary_and_exits_130(capsys):
    log = ApplyLog()
    log.planned(plan_of(creates=2))
    log(Outcome(full_name="f/c0", status="created"))
    with pytest.raises(SystemExit) as stopped, log.on_ctrl_c():
        raise KeyboardInterrupt
    assert stopped.value.code == 130
    assert capsys.readouterr().err.splitlines()[:3] == [
        "interrupted: applied 1 of 2 changes, 1 not applied",
        "applied: created f/c0",
        "not applied: f/c1",
    ]
