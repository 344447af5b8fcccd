"""The server read that runs during resolution: used while fresh, never when stale."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import PrefectClient

from deploy_fleet import DeployFleet
from flowfleet import engine, paging, prefetch, render
from flowfleet.problems import FlowfleetError

pytestmark = pytest.mark.server


def delete_on_server(api_url: str, deployment_id) -> None:
    async def delete() -> None:
        async with PrefectClient(api=api_url) as client:
            await client.delete_deployment(deployment_id)

    asyncio.run(delete())


def test_a_stale_read_ahead_is_read_again(prefect_server, tmp_path, monkeypatch):
    fleet = DeployFleet(tmp_path, prefect_server.api_url)
    fleet.add("etl", cron="0 * * * *")
    fleet.deploy()
    full_name = f"{fleet.flow_name('etl')}/default"

    fresh = fleet.target(prefetch=True)
    stale = fleet.target(prefetch=True)
    fresh.prefetch._thread.join()
    stale.prefetch._thread.join()
    # The server changes after both reads ahead finished (someone deleted it by hand).
    delete_on_server(prefect_server.api_url, fleet.server_deployments()[full_name].id)

    # Within MAX_AGE_S the plan uses the read made while resolving: the point of it.
    assert [c.full_name for c in asyncio.run(engine.plan(fresh)).unchanged] == [full_name]
    # Past it, the plan reads again and sees the deletion.
    monkeypatch.setattr(prefetch, "MAX_AGE_S", 0.0)
    assert [c.full_name for c in asyncio.run(engine.plan(stale)).create] == [full_name]


def test_a_failed_read_ahead_reports_like_a_normal_read(prefect_server, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
    fleet = DeployFleet(tmp_path, prefect_server.api_url)
    fleet.add("etl")
    target = fleet.target(prefetch=True)
    # The environment points elsewhere than the read ahead: it is not used.
    assert target.prefetch.take("http://127.0.0.1:9/api") is None

    closed = DeployFleet(tmp_path / "closed", "http://127.0.0.1:9/api")
    closed.add("etl")
    with pytest.raises(FlowfleetError, match="reading the server failed"):
        asyncio.run(engine.plan(closed.target(prefetch=True)))


def test_a_read_ahead_during_the_workers_holds_its_pages_and_plans_the_same(
    prefect_server, tmp_path, monkeypatch
):
    fleet = DeployFleet(tmp_path, prefect_server.api_url)
    for short in ("etl", "load", "report"):
        fleet.add(short, cron="0 * * * *")
    fleet.deploy()
    fleet.add("new")
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)  # several pages, each held
    held = fleet.target()
    # A read ahead that ends before resolution settles (say, while prewarm workers run):
    # its pages wait, compressed, until the plan takes it.
    held.prefetch = prefetch.ServerPrefetch.start(prefect_server.api_url)
    held.prefetch._thread.join()
    assert held.prefetch._rows.deployments.held >= 2

    plan = asyncio.run(engine.plan(held))
    afresh = asyncio.run(engine.plan(fleet.target()))
    assert [c.full_name for c in plan.create] == [f"{fleet.flow_name('new')}/default"]
    assert len(plan.unchanged) == 3
    assert render.plan_json(plan) == render.plan_json(afresh)


def test_resolution_lets_the_read_ahead_parse_once_no_worker_runs(prefect_server, tmp_path):
    fleet = DeployFleet(tmp_path, prefect_server.api_url)
    fleet.add("etl")
    target = fleet.target(prefetch=True)
    assert not target.prefetch._holding.is_set()  # settled by the resolution, before take
    assert asyncio.run(engine.plan(target)).create
