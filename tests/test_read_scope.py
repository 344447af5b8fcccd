"""A plan reads only the project's part of a server shared with other projects.

The server here holds a few hundred deployments of other projects (more than one
page of the filter endpoint). A plan that does not prune reads the project's flows,
their deployments and its pools, and gives exactly the plan a full read gives.
Pruning still reads everything, so a deployment whose flow was removed from the code
is still found, and the other projects' deployments are never touched.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, own_server, run_cli
from deploy_fleet import DeployFleet
from flowfleet import engine, observed
from flowfleet.client import ApiClient
from flowfleet.devserver import LocalServer
from flowfleet.paging import PAGE_SIZE
from flowfleet.read_scope import CHUNK, READ_ALL_MAX_VAR, ReadScope
from flowfleet.render import plan_json
from misbehaving import Proxy
from snapshots import create_pool

FOREIGN = PAGE_SIZE + 10  # an unfiltered read needs two pages of deployments
FOREIGN_LABELS = {
    "flowfleet.managed": "true",
    "flowfleet.project": "other",
    "flowfleet.env": "test",
}


def test_a_scope_asks_for_its_names_in_chunks_the_database_accepts():
    scope = ReadScope(frozenset(f"f{i:05}" for i in range(CHUNK + 1)), frozenset({"pool"}))
    bodies = list(scope.filters("/deployments/filter"))
    assert [len(b["flows"]["name"]["any_"]) for b in bodies] == [CHUNK, 1]
    assert list(scope.filters("/work_pools/filter")) == [
        {"work_pools": {"name": {"any_": ["pool"]}}}
    ]
    assert list(ReadScope(frozenset(), frozenset()).filters("/flows/filter")) == []
    assert scope.covers(ReadScope(frozenset({"f00001"}), frozenset({"pool"})))
    assert not scope.covers(ReadScope(frozenset({"elsewhere"}), frozenset({"pool"})))


async def _seed(api_url: str) -> None:
    """Other projects' deployments: half managed by project 'other', half by nobody."""
    async with ApiClient(api_url) as client:
        flows = []
        for i in range(FOREIGN // 25):
            row = await client.send("POST", "/flows/", json={"name": f"foreign-{i}"})
            flows.append(row.json()["id"])
        limit = asyncio.Semaphore(4)

        async def one(i: int) -> None:
            body = {"name": f"d{i}", "flow_id": flows[i % len(flows)]}
            if i % 2:
                body["labels"] = FOREIGN_LABELS
            async with limit:
                await client.send("POST", "/deployments/", json=body)

        await asyncio.gather(*(one(i) for i in range(FOREIGN)))


async def _clash(api_url: str, flow_name: str) -> None:
    """An unmanaged deployment with the same flow/name as one the project declares."""
    async with ApiClient(api_url) as client:
        flow_id = (await client.send("POST", "/flows/", json={"name": flow_name})).json()["id"]
        await client.send("POST", "/deployments/", json={"name": "default", "flow_id": flow_id})


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server of its own (no scheduler), so its foreign deployments disturb no other test."""
    with own_server(tmp_path_factory, "shared-server") as server:
        asyncio.run(_seed(server.api_url))
        yield server


@pytest.fixture(autouse=True)
def crowded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the full-read threshold, so plans read only the project's part: the
    server's few hundred foreign deployments stand for a shared workspace's thousands."""
    monkeypatch.setenv(READ_ALL_MAX_VAR, "0")


class RowCounter:
    """Rows each filter endpoint answered, read from the real HTTP responses."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}

    async def __call__(self, response: httpx.Response) -> None:
        if response.request.url.path.endswith("/filter"):
            await response.aread()
            path = response.request.url.path.split("/api", 1)[-1]
            self.rows[path] = self.rows.get(path, 0) + len(response.json())


def foreign_on_server(api_url: str) -> list[dict]:
    rows: list[dict] = []
    with httpx.Client(base_url=api_url, timeout=30) as client:
        while page := client.post(
            "/deployments/filter",
            json={"flows": {"name": {"like_": "foreign-"}}, "offset": len(rows)},
        ).json():
            rows.extend(page)
    return rows


@pytest.mark.server
def test_plan_reads_only_the_projects_deployments_and_prune_still_finds_removed_flows(
    shared_server, tmp_path
):
    fleet = DeployFleet(tmp_path, shared_server.api_url)
    for short in ("etl", "report", "sync"):
        fleet.add(short, cron="0 6 * * *")
    assert fleet.deploy()[1].ok
    foreign_before = foreign_on_server(shared_server.api_url)
    assert len(foreign_before) == FOREIGN

    fleet.add("late", interval=3600)  # one to create, beside three unchanged
    fleet.add("clash")  # and one whose name another project's deployment already has
    asyncio.run(_clash(shared_server.api_url, fleet.flow_name("clash")))
    counter = RowCounter()
    client = ApiClient(
        shared_server.api_url, httpx_settings={"event_hooks": {"response": [counter]}}
    )
    target = fleet.target()
    scoped = asyncio.run(engine.plan(target, client=client))
    # Three of ours and the other project's same-named one: nothing else was read.
    assert counter.rows["/deployments/filter"] == 4
    assert counter.rows["/flows/filter"] == 4
    assert counter.rows["/work_pools/filter"] == 1
    assert [c.full_name for c in scoped.create] == [f"{fleet.flow_name('late')}/default"]
    assert len(scoped.unchanged) == 3
    assert [c.full_name for c in scoped.conflicts] == [f"{fleet.flow_name('clash')}/default"]

    async def full_read():
        async with ApiClient(shared_server.api_url) as reader:
            return await observed.read_state(reader, shared_server.api_url)

    everything = asyncio.run(full_read())
    assert len(everything.deployments) > PAGE_SIZE
    assert plan_json(target.plan(everything)) == plan_json(scoped)

    # Pruning reads everything: the removed flow's deployment is found and deleted.
    fleet.remove("sync")
    fleet.remove("clash")
    planned, report = fleet.deploy(prune=True)
    assert [c.full_name for c in planned.delete] == [f"{fleet.flow_name('sync')}/default"]
    assert report.ok
    assert f"{fleet.flow_name('sync')}/default" not in fleet.server_deployments()
    assert foreign_on_server(shared_server.api_url) == foreign_before


@pytest.mark.server
def test_the_cli_plan_of_the_example_fleet_reads_one_page_on_a_shared_server(
    shared_server, tmp_path
):
    create_pool(shared_server.api_url, "local")  # local.toml's one pool
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        FLOWFLEET_BRANCH="main",
        FLOWFLEET_CACHE_DIR=str(tmp_path / "cache"),
    )
    with Proxy(shared_server.port) as proxy:
        env["PREFECT_API_URL"] = proxy.api_url
        cold = run_cli("plan", "--env", "local", "--output", "json", env=env, cwd=ROOT)
        assert cold.returncode == 0, cold.stderr
        proxy.seen.clear()
        warm = run_cli("plan", "--env", "local", "--output", "json", env=env, cwd=ROOT)
        assert warm.returncode == 0, warm.stderr
        # The example fleet's flows fit one page; the whole server needs two.
        assert proxy.seen[("POST", "/api/deployments/filter")] == 1
        full = run_cli("plan", "--env", "local", "--prune", "--output", "json", env=env, cwd=ROOT)
        assert full.returncode == 0, full.stderr
        assert proxy.seen[("POST", "/api/deployments/filter")] >= 3
    scoped_plan, full_plan = json.loads(warm.stdout), json.loads(full.stdout)
    assert len(scoped_plan["create"]) >= 4  # the example fleet, all new here
    assert full_plan["delete"] == []
    assert scoped_plan == full_plan
    assert json.loads(cold.stdout) == scoped_plan
    assert Path(env["FLOWFLEET_CACHE_DIR"], "read_scope", "local.json").exists()


@pytest.mark.server
def test_a_cold_read_ahead_on_a_crowded_server_waits_for_the_projects_names(
    shared_server, tmp_path, monkeypatch
):
    # The server holds more deployments than the read ahead may read blind.
    monkeypatch.setenv(READ_ALL_MAX_VAR, str(PAGE_SIZE // 2))
    with Proxy(shared_server.port) as proxy:
        fleet = DeployFleet(tmp_path, proxy.api_url)
        fleet.add("etl", cron="0 6 * * *")
        target = fleet.target(prefetch=True)  # no resolution cache: no names to guess
        target.prefetch._thread.join()
        assert proxy.seen[("POST", "/api/deployments/count")] == 1
        assert proxy.seen[("POST", "/api/deployments/filter")] == 0
        planned = asyncio.run(engine.plan(target))
        assert proxy.seen[("POST", "/api/deployments/filter")] == 1
    assert [c.full_name for c in planned.create] == [f"{fleet.flow_name('etl')}/default"]
