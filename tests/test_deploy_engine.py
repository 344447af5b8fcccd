"""Plan and apply against a real Prefect server: idempotent, paused-safe, prune-safe."""

from __future__ import annotations

import asyncio
import time

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from deploy_fleet import DeployFleet, WriteCounter
from flowfleet import desired as ownership
from flowfleet.observed import ServerState
from flowfleet.plan import make_plan
from flowfleet.problems import FlowfleetError
from flowfleet.write_concurrency import TRIAL, TRIAL_MIN, WRITERS
from misbehaving import Proxy
from server_kinds import BOTH_DATABASES

pytestmark = pytest.mark.server


@pytest.fixture
def fleet(db_server, tmp_path) -> DeployFleet:
    return DeployFleet(tmp_path, db_server.api_url)


def scheduled_run_ids(api_url: str, deployment_ids: list) -> set[str]:
    async def read() -> set[str]:
        async with PrefectClient(api=api_url) as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=deployment_ids)),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            return {str(r.id) for r in runs}

    return asyncio.run(read())


def test_first_deploy_creates_everything_and_a_redeploy_writes_nothing(fleet):
    fleet.add("etl", cron="*/5 * * * *", parameters={"days": 2})
    fleet.add("sync", interval=600, timezone="Europe/Berlin")
    fleet.add("adhoc", description="no schedule")

    _, report = fleet.deploy()
    assert report.ok
    assert sorted(o.status for o in report.outcomes) == ["created"] * 3
    on_server = fleet.server_deployments()
    assert set(on_server) == {f"{fleet.flow_name(n)}/default" for n in ("etl", "sync", "adhoc")}
    etl = on_server[f"{fleet.flow_name('etl')}/default"]
    assert etl.labels[ownership.MANAGED] == "true"
    assert etl.labels[ownership.PROJECT] == fleet.project
    assert etl.labels[ownership.ENV] == "test"
    assert etl.labels[ownership.PACKAGE] == "team-flows"
    assert len(etl.labels[ownership.SPEC]) == 16
    assert etl.parameters == {"days": 2}
    assert etl.work_pool_name == fleet.pool
    assert [s.schedule.cron for s in etl.schedules] == ["*/5 * * * *"]

    # Let the scheduler create runs, so we can see that a no-op redeploy keeps them.
    ids = [d.id for d in on_server.values()]
    deadline = time.monotonic() + 60
    runs_before: set[str] = set()
    while time.monotonic() < deadline and not runs_before:
        runs_before = scheduled_run_ids(fleet.api_url, ids)
        time.sleep(1)
    assert runs_before, "the scheduler never created runs to compare"

    counter = WriteCounter()
    _, again = fleet.deploy(counter=counter)
    assert again.ok
    assert [(o.status, o.details) for o in again.outcomes] == [("unchanged", "")] * 3
    assert counter.writes == []
    after = fleet.server_deployments()
    assert {k: d.updated for k, d in after.items()} == {k: d.updated for k, d in on_server.items()}
    assert runs_before <= scheduled_run_ids(fleet.api_url, ids)


def create_all(fleet: DeployFleet, names: list[str], concurrency: int | None):
    """Declare `names` and deploy them all as new: the report and the writes counted."""
    for name in names:
        fleet.add(name, cron="0 1 * * *")
    counter = WriteCounter()
    _, report = fleet.deploy(counter=counter, concurrency=concurrency)
    assert report.ok
    assert [o.status for o in report.outcomes] == ["created"] * len(names)
    return report, counter


# Set numbers are obeyed, whatever the database (`auto` is tested below).
@pytest.mark.parametrize(
    ("db_server", "concurrency"), [("sqlite", 1), ("postgresql", 3)], indirect=["db_server"]
)
def test_writes_in_flight_are_exactly_the_concurrency(fleet, concurrency):
    names = [f"w{i}" for i in range(8)]
    report, counter = create_all(fleet, names, concurrency)
    assert counter.writes.count("POST /api/deployments/") == len(names)
    assert counter.most_in_flight == concurrency
    assert set(fleet.server_deployments()) == {f"{fleet.flow_name(n)}/default" for n in names}


@BOTH_DATABASES
def test_changing_one_field_updates_exactly_that_deployment(fleet):
    fleet.add("a", cron="0 1 * * *")
    fleet.add("b", cron="0 2 * * *")
    fleet.deploy()
    before = fleet.server_deployments()

    fleet.remove("b")
    fleet.add("b", cron="0 3 * * *")
    planned = fleet.plan()
    assert [c.full_name for c in planned.update] == [f"{fleet.flow_name('b')}/default"]
    assert set(planned.update[0].changes) == {"schedules"}

    counter = WriteCounter()
    _, report = fleet.deploy(counter=counter)
    statuses = {o.full_name: o.status for o in report.outcomes}
    assert statuses == {
        f"{fleet.flow_name('a')}/default": "unchanged",
        f"{fleet.flow_name('b')}/default": "updated",
    }
    assert counter.writes == ["POST /api/deployments/"]
    after = fleet.server_deployments()
    assert after[f"{fleet.flow_name('b')}/default"].schedules[0].schedule.cron == "0 3 * * *"
    a = f"{fleet.flow_name('a')}/default"
    assert after[a].updated == before[a].updated


def test_pause_on_server_survives_redeploy_and_active_and_cron_changes_apply(fleet):
    fleet.add("etl", cron="0 6 * * *", description="v1")
    fleet.deploy()
    name = f"{fleet.flow_name('etl')}/default"
    deployment_id = fleet.server_deployments()[name].id

    async def pause() -> None:
        async with PrefectClient(api=fleet.api_url) as client:
            await client.pause_deployment(deployment_id)

    asyncio.run(pause())
    fleet.remove("etl")
    fleet.add("etl", cron="0 6 * * *", description="v2")  # an unrelated change
    _, report = fleet.deploy()
    assert report.ok
    after = fleet.server_deployments()[name]
    assert after.description == "v2"
    assert after.paused is True, "a pause set on the server must survive a redeploy"

    # Removing the cron removes the schedule on the server.
    fleet.remove("etl")
    fleet.add("etl", description="v2")
    fleet.deploy()
    assert fleet.server_deployments()[name].schedules == []

    # Changing `active` in the config does pause and unpause.
    fleet.remove("etl")
    fleet.add("etl", description="v2", active=True)
    asyncio.run(pause())
    fleet.remove("etl")
    fleet.add("etl", description="v2", active=False)
    fleet.deploy()
    assert fleet.server_deployments()[name].paused is True
    fleet.remove("etl")
    fleet.add("etl", description="v2", active=True)
    fleet.deploy()
    assert fleet.server_deployments()[name].paused is False


def hand_made(api_url: str, flow_name: str, name: str, pool: str | None = None) -> str:
    async def create() -> str:
        async with PrefectClient(api=api_url) as client:
            flow_id = await client.create_flow_from_name(flow_name)
            return str(
                await client.create_deployment(flow_id=flow_id, name=name, work_pool_name=pool)
            )

    return asyncio.run(create())


@BOTH_DATABASES
def test_prune_deletes_removed_flow_only(fleet):
    fleet.add("keep", environments=["test"])
    fleet.add("gone", environments=["test"])
    fleet.add("elsewhere", environments=["other"])
    fleet.deploy()
    _, other = fleet.deploy(env="other")
    assert other.ok
    hand_made(fleet.api_url, fleet.flow_name("manual"), "default")

    fleet.remove("gone")
    planned, report = fleet.deploy(prune=True)
    assert planned.unchanged[0].full_name == f"{fleet.flow_name('keep')}/default"
    assert [c.full_name for c in planned.delete] == [f"{fleet.flow_name('gone')}/default"]
    assert report.ok
    assert set(fleet.server_deployments()) == {
        f"{fleet.flow_name('keep')}/default",
        f"{fleet.flow_name('elsewhere')}/default",
        f"{fleet.flow_name('manual')}/default",
    }


def test_same_name_hand_made_deployment_needs_adopt(fleet):
    hand_made(fleet.api_url, fleet.flow_name("etl"), "default")
    fleet.add("etl", cron="0 4 * * *")
    counter = WriteCounter()
    planned, report = fleet.deploy(counter=counter)
    assert report is None and counter.writes == []
    assert "pass --adopt" in planned.blockers[0]
    assert (
        ownership.MANAGED
        not in fleet.server_deployments()[f"{fleet.flow_name('etl')}/default"].labels
    )

    _, report = fleet.deploy(adopt=True)
    assert report.ok
    adopted = fleet.server_deployments()[f"{fleet.flow_name('etl')}/default"]
    assert adopted.labels[ownership.PROJECT] == fleet.project


def test_prune_after_failed_package_import_deletes_nothing(fleet):
    fleet.add("keep")
    fleet.add("gone")
    fleet.deploy()
    fleet.remove("gone")
    fleet.failing_package = "no_such_team_flows"
    with pytest.raises(FlowfleetError) as failure:
        fleet.deploy(prune=True)
    assert "no_such_team_flows" in str(failure.value)
    assert f"{fleet.flow_name('gone')}/default" in fleet.server_deployments()

    # The planner itself refuses too, whoever calls it, when it cannot tell which
    # package failed (a broken package's own deployments: tests/test_partial_load.py).
    state = ServerState(fleet.api_url)
    plan = make_plan(
        [],
        state,
        environment="test",
        project=fleet.project,
        prune=True,
        failed_packages={"*"},
    )
    assert plan.delete == [] and "refusing to prune" in (plan.prune_refused or "")


def test_failed_write_is_reported_and_fails_the_run(fleet):
    # `validate` checks job variables against the stock template, so the server must
    # disagree: its pool was changed by hand to take an integer `stream_output`.
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["stream_output"] = {"type": "integer"}

    async def hand_made_pool() -> None:
        async with PrefectClient(api=fleet.api_url) as client:
            await client.create_work_pool(
                WorkPoolCreate(name=fleet.pool, type="process", base_job_template=template)
            )

    asyncio.run(hand_made_pool())
    fleet.add("ok")
    fleet.add("bad", job_variables={"stream_output": False})
    _, report = fleet.deploy()
    statuses = {o.full_name: o.status for o in report.outcomes}
    assert statuses[f"{fleet.flow_name('ok')}/default"] == "created"
    assert statuses[f"{fleet.flow_name('bad')}/default"] == "failed"
    assert not report.ok
    failed = report.failed[0].details
    assert "422" in failed and "stream_output" in failed


@pytest.mark.parametrize(("round_trip", "writers"), [(0.0, 1), (0.05, WRITERS)])
def test_auto_concurrency_times_the_server_and_the_report_says_so(
    prefect_server, tmp_path, round_trip, writers
):
    """`--concurrency auto`: one writer for a server next to the client (too few writes for
    a trial); WRITERS for one 50 ms away (a proxy holding every request, as a network
    would)."""
    with Proxy(prefect_server.port) as proxy:
        proxy.misbehave("slow", seconds=round_trip)
        fleet = DeployFleet(tmp_path, proxy.api_url if round_trip else prefect_server.api_url)
        names = [f"w{i}" for i in range(8)]
        report, counter = create_all(fleet, names, None)
        on_server = set(fleet.server_deployments())
    assert (report.writers.chosen, report.writers.count) == ("auto", writers)
    assert (report.writers.round_trip_ms >= round_trip * 1000) and counter.most_in_flight == writers
    assert on_server == {f"{fleet.flow_name(n)}/default" for n in names}


def test_auto_concurrency_tries_several_writers_on_a_near_server_and_keeps_one_on_sqlite(
    prefect_server, tmp_path
):
    """Enough writes for a trial: TRIAL alone, TRIAL with WRITERS at once, then the rest
    at the winner's count. SQLite queues concurrent writers on its lock: one is kept."""
    fleet = DeployFleet(tmp_path, prefect_server.api_url)
    names = [f"t{i:02d}" for i in range(TRIAL_MIN)]
    report, counter = create_all(fleet, names, None)
    assert counter.most_in_flight == WRITERS  # the trial's second half
    trial = report.writers.trial_ms
    assert set(trial) == {1, WRITERS} and report.writers.count == 1, trial
    assert counter.writes.count("POST /api/deployments/") == len(names) >= 2 * TRIAL
    assert set(fleet.server_deployments()) == {f"{fleet.flow_name(n)}/default" for n in names}
