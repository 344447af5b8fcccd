"""Writes go over plain HTTP, so they must speak Prefect's CSRF handshake themselves.

One server for the module, with CSRF protection on and tokens that expire after
TOKEN_SECONDS, so a long deploy's token running out is a case a test can wait for.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from deploy_fleet import DeployFleet
from flowfleet import engine
from flowfleet.client import ApiClient, send_write
from flowfleet.devserver import LocalServer, start_server
from misbehaving import Proxy
from sqlite_template import sqlite_template

pytestmark = pytest.mark.server

TOKEN_SECONDS = 2


@pytest.fixture(scope="module")
def csrf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = start_server(
        tmp_path_factory.mktemp("csrf-server"),
        services=False,
        settings={
            "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
            "PREFECT_SERVER_CSRF_TOKEN_EXPIRATION": f"PT{TOKEN_SECONDS}S",
        },
        sqlite_template=sqlite_template(tmp_path_factory),
    )
    try:
        yield server
    finally:
        server.stop()


def test_deploy_and_prune_work_against_a_csrf_protected_server(csrf_server, tmp_path):
    # The server really refuses a write without the token.
    refused = httpx.post(f"{csrf_server.api_url}/flows/", json={"name": "no-token"})
    assert refused.status_code == 403, refused.text

    fleet = DeployFleet(tmp_path / "ws", csrf_server.api_url)
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


def test_an_expired_token_is_renewed_and_the_write_goes_through(csrf_server):
    """One client, two writes, the token expiring in between: the second write is refused
    once (403), the client fetches a new token, and the write is sent again and lands."""
    names = [f"csrf-renewal-{uuid.uuid4().hex[:8]}-{i}" for i in (1, 2)]

    async def two_writes_across_an_expiry(api_url: str) -> list[httpx.Response]:
        async with ApiClient(api_url) as http:
            first = await send_write(http, "POST", "/flows/", json={"name": names[0]})
            await asyncio.sleep(TOKEN_SECONDS + 1)
            second = await send_write(http, "POST", "/flows/", json={"name": names[1]})
            return [first, second]

    with Proxy(csrf_server.port) as proxy:  # forwards everything, counting requests
        responses = asyncio.run(two_writes_across_an_expiry(proxy.api_url))

    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    assert proxy.seen[("GET", "/api/csrf-token")] == 2, proxy.seen
    assert proxy.seen[("POST", "/api/flows/")] == 3, proxy.seen  # the refused one, sent again
    for name in names:
        assert httpx.get(f"{csrf_server.api_url}/flows/name/{name}").status_code == 200
