"""Writes go over plain HTTP, so they must speak Prefect's CSRF handshake themselves."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from deploy_fleet import DeployFleet
from flowfleet import engine
from flowfleet.devserver import start_server

pytestmark = pytest.mark.server


def test_deploy_and_prune_work_against_a_csrf_protected_server(tmp_path):
    server = start_server(
        tmp_path / "server",
        services=False,
        settings={"PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true"},
    )
    try:
        # The server really refuses a write without the token.
        refused = httpx.post(f"{server.api_url}/flows/", json={"name": "no-token"})
        assert refused.status_code == 403, refused.text

        fleet = DeployFleet(tmp_path / "ws", server.api_url)
        fleet.add("etl", cron="0 6 * * *")
        fleet.add("sync", interval=600)
        target = fleet.target()
        asyncio.run(engine.pools(target))  # Prefect's own client
        _, report = asyncio.run(engine.deploy(target))  # flowfleet's plain-HTTP writes
        assert report.ok, report.outcomes
        assert set(fleet.server_deployments()) == {
            f"{fleet.flow_name('etl')}/default",
            f"{fleet.flow_name('sync')}/default",
        }

        fleet.remove("sync")
        pruned = asyncio.run(engine.prune(fleet.target()))
        assert [o.status for o in pruned.outcomes] == ["deleted"]
        assert set(fleet.server_deployments()) == {f"{fleet.flow_name('etl')}/default"}
    finally:
        server.stop()
