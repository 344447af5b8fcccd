"""A deploy reads the server before it takes the deploy lease, so the read can overlap
resolving. It reads again under the lease only when another deploy took the lease in
between (the release mark, flowfleet.lease_holder): against a real server, with the
other deploy run at the exact moment between the two."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from deploy_fleet import DeployFleet, WriteCounter
from flowfleet import engine
from flowfleet.client import ApiClient
from flowfleet.lease import LeaseSettings

pytestmark = pytest.mark.server

DEPLOYMENT_READS = "POST /api/deployments/filter"


@pytest.fixture
def fleet(prefect_server, tmp_path) -> DeployFleet:
    fleet = DeployFleet(tmp_path, prefect_server.api_url)
    fleet.add("a", cron="0 1 * * *")
    fleet.add("b", cron="0 2 * * *")
    _, report = fleet.deploy(lease=LeaseSettings())
    assert report.ok
    return fleet


def test_a_redeploy_that_nobody_raced_reads_the_server_once(fleet):
    counter = WriteCounter()
    _, report = fleet.deploy(counter=counter, lease=LeaseSettings())
    assert [o.status for o in report.outcomes] == ["unchanged", "unchanged"]
    assert counter.reads.count(DEPLOYMENT_READS) == 1
    assert "POST /api/v2/concurrency_limits/increment-with-lease" in counter.writes


def test_a_deploy_that_took_the_lease_meanwhile_makes_the_next_read_again(fleet):
    """Deploy 1 reads (a and b there); deploy 2, with b removed, prunes b and releases
    the lease; only then does deploy 1 take the lease. Planned on its first read, it
    would call b unchanged and leave it deleted; read again, it creates b."""
    mine = fleet.target()
    fleet.remove("b")
    theirs = fleet.target()
    fleet.add("b", cron="0 2 * * *")
    counter = WriteCounter()
    raced = threading.Event()

    async def race_before_the_lease(request: httpx.Request) -> None:
        if request.url.path.endswith("/increment-with-lease") and not raced.is_set():
            raced.set()
            pruned = await asyncio.to_thread(
                lambda: asyncio.run(engine.deploy(theirs, prune=True, lease=LeaseSettings()))
            )
            assert [o.status for o in pruned[1].outcomes if o.status == "deleted"] == ["deleted"]

    hooks = {"request": [race_before_the_lease, counter], "response": [counter.answered]}
    client = ApiClient(fleet.api_url, httpx_settings={"event_hooks": hooks})
    _, report = asyncio.run(engine.deploy(mine, client=client, lease=LeaseSettings()))

    assert raced.is_set()
    statuses = {o.full_name: o.status for o in report.outcomes}
    assert statuses == {
        f"{fleet.flow_name('a')}/default": "unchanged",
        f"{fleet.flow_name('b')}/default": "created",
    }
    assert counter.reads.count(DEPLOYMENT_READS) == 2
    assert set(fleet.server_deployments()) == {
        f"{fleet.flow_name('a')}/default",
        f"{fleet.flow_name('b')}/default",
    }
