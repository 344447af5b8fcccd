"""Several schedules and the typed deployment fields against a real Prefect server:
they read back exactly, one edited schedule is the only change, a no-op redeploy writes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prefect.client.orchestration import PrefectClient

from deploy_fleet import DeployFleet, WriteCounter
from flowfleet import Cron, Interval, RRule

pytestmark = pytest.mark.server


def schedules(*, weekday_cron: str = "0 9 * * 1-5") -> list:
    return [
        Cron(weekday_cron, timezone="Europe/London", slug="weekdays", day_or=False),
        Interval(
            timedelta(hours=6),
            anchor_date=datetime(2026, 1, 5, 3, 30, tzinfo=UTC),
            parameters={"days": 7, "region": "apac"},
        ),
        RRule("FREQ=WEEKLY;BYDAY=SA;BYHOUR=4;BYMINUTE=0", active=False, slug="weekend"),
    ]


def test_three_schedules_read_back_exactly_and_one_edit_changes_only_that_one(
    prefect_server, tmp_path
):
    fleet = DeployFleet(tmp_path, prefect_server.api_url)
    options = dict(
        concurrency_limit=2,
        concurrency_options={"collision_strategy": "CANCEL_NEW", "grace_period_seconds": 120},
        enforce_parameter_schema=False,
        labels={"team": "sales"},
    )
    fleet.add("etl", schedules=schedules(), **options)
    _, report = fleet.deploy()
    assert report.ok, report.outcomes
    name = f"{fleet.flow_name('etl')}/default"

    on_server = fleet.server_deployments()[name]
    by_kind = {type(s.schedule).__name__: s for s in on_server.schedules}
    assert len(by_kind) == 3
    cron, interval, rrule = (by_kind[f"{k}Schedule"] for k in ("Cron", "Interval", "RRule"))
    assert (cron.schedule.cron, cron.schedule.timezone, cron.schedule.day_or) == (
        "0 9 * * 1-5",
        "Europe/London",
        False,
    )
    assert (cron.slug, cron.active, cron.parameters) == ("weekdays", True, {})
    assert interval.schedule.interval == timedelta(hours=6)
    assert interval.schedule.anchor_date == datetime(2026, 1, 5, 3, 30, tzinfo=UTC)
    assert interval.parameters == {"days": 7, "region": "apac"}
    assert (rrule.slug, rrule.active) == ("weekend", False)
    assert on_server.paused is False, "an inactive schedule does not pause the deployment"
    assert on_server.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert on_server.concurrency_options.grace_period_seconds == 120
    assert on_server.enforce_parameter_schema is False
    assert on_server.labels["team"] == "sales"
    assert on_server.labels["flowfleet.managed"] == "true"

    plan = fleet.plan()
    assert [c.full_name for c in plan.unchanged] == [name], plan.update
    counter = WriteCounter()
    _, again = fleet.deploy(counter=counter)
    assert [o.status for o in again.outcomes] == ["unchanged"]
    assert counter.writes == [], "a no-op redeploy writes nothing"

    # A pause set on the server is kept when only a schedule changes.
    async def pause() -> None:
        async with PrefectClient(api=fleet.api_url) as client:
            await client.pause_deployment(on_server.id)

    asyncio.run(pause())
    fleet.remove("etl")
    fleet.add("etl", schedules=schedules(weekday_cron="0 8 * * 1-5"), **options)
    plan = fleet.plan()
    [update] = plan.update
    assert set(update.changes) == {"schedules"}
    moved = update.changes["schedules"].pair()
    assert [s["cron"] for s in moved["from"]] == ["0 9 * * 1-5"]
    assert [s["cron"] for s in moved["to"]] == ["0 8 * * 1-5"]

    _, report = fleet.deploy()
    assert report.ok
    after = fleet.server_deployments()[name]
    crons = [getattr(s.schedule, "cron", None) for s in after.schedules]
    assert sorted(c for c in crons if c) == ["0 8 * * 1-5"] and len(crons) == 3
    assert after.paused is True, "a pause set on the server outlives a schedule change"
    assert {s.slug: s.active for s in after.schedules if s.slug} == {
        "weekdays": True,
        "weekend": False,
    }
    assert [c.full_name for c in fleet.plan().unchanged] == [name]
