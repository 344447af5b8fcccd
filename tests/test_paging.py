"""A full read of the server sees every deployment once, however many share a name.

Prefect sorts `/deployments/filter` by name alone unless told otherwise, and many
flows have a deployment called `nightly`. PostgreSQL returns rows that tie on the
sort key in any order, so offset pages of a name-sorted read skipped some rows and
repeated others: the benchmark's no-op redeploy at 1,000 deployments on PostgreSQL
created one "missing" deployment. A missed row is worse than a slow plan: a
deployment another project owns would be planned as a create, and overwritten.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from flowfleet import observed, paging
from flowfleet.client import ApiClient
from server_kinds import BOTH_DATABASES

pytestmark = pytest.mark.server

FLOWS = 40
SMALL_PAGE = 7  # many page boundaries through the tied names


async def seed_tied_deployments(api_url: str, uid: str) -> set[str]:
    """FLOWS flows, each with deployments `nightly` and `hourly`: every name ties FLOWS times.

    Written through flowfleet's client, which retries the busy answers SQLite gives."""
    made = set()
    async with ApiClient(api_url) as client:
        for i in range(FLOWS):
            flow = await client.request("POST", "/flows/", json={"name": f"paging-{uid}-{i:02d}"})
            flow.raise_for_status()
            for name in ("nightly", "hourly"):
                body = {"name": name, "flow_id": flow.json()["id"]}
                (await client.request("POST", "/deployments/", json=body)).raise_for_status()
                made.add(f"paging-{uid}-{i:02d}/{name}")
    return made


@BOTH_DATABASES
def test_a_paged_read_sees_every_deployment_whose_name_ties(
    db_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = uuid.uuid4().hex[:8]
    made = asyncio.run(seed_tied_deployments(db_server.api_url, uid))
    monkeypatch.setattr(paging, "PAGE_SIZE", SMALL_PAGE)

    async def read() -> observed.ServerState:
        async with ApiClient(db_server.api_url) as client:
            return await observed.read_state(client, db_server.api_url)

    for _ in range(3):  # an unstable order shows on some reads, not necessarily the first
        state = asyncio.run(read())
        ours = {name for name in state.deployments if name.startswith(f"paging-{uid}-")}
        assert ours == made, f"missed: {sorted(made - ours)[:5]}"
