"""Concurrent, killed and interrupted deploys, and concurrent `pools`, on a real server.

Each run is the real CLI in its own process (tests/disk_project.py), against the
session's SQLite server with its services on, so the server's repossessor frees the
lease of a deploy that was killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from disk_project import DiskProject, error_lines
from flowfleet.client import ApiClient
from misbehaving import Proxy
from snapshots import create_pool, snapshot

pytestmark = pytest.mark.server

FLOWS, PER_FLOW = 12, 5  # 60 deployments: seconds of writes, long enough to overlap
TOTAL = FLOWS * PER_FLOW


# Each create held this long by a proxy: a deploy then takes TOTAL * SLOW_CREATE seconds
# whatever the machine's load, the window in which a test starts or stops the other run.
SLOW_CREATE = 0.5


def project_on(server, tmp_path: Path, api_url: str | None = None) -> DiskProject:
    project = DiskProject(tmp_path / "p", api_url or server.api_url, flows=FLOWS, per_flow=PER_FLOW)
    create_pool(server.api_url, project.pool)
    return project


@pytest.fixture
def slow_creates(prefect_server):
    """A proxy in front of the session server that holds every `POST /deployments/`."""
    with Proxy(prefect_server.port) as proxy:
        proxy.misbehave(
            "slow", lambda method, path: path == "/api/deployments/", seconds=SLOW_CREATE
        )
        yield proxy


def statuses(stdout: str) -> dict[str, str]:
    return {r["full_name"]: r["status"] for r in json.loads(stdout)["results"]}


def on_server(project: DiskProject) -> set[str]:
    return {name for name in snapshot(project.api_url).full_names if project.uid in name}


def wait_for_lines(process: subprocess.Popen, prefix: str, count: int) -> list[str]:
    """Read the run's stderr until `count` lines start with `prefix`."""
    seen: list[str] = []
    assert process.stderr is not None
    while sum(line.startswith(prefix) for line in seen) < count:
        line = process.stderr.readline()
        assert line, f"the run ended first: {''.join(seen)}"
        seen.append(line)
    return seen


def signal_mid_deploy(project: DiskProject, signum: int, after_creates: int) -> tuple[int, str]:
    """Start a deploy, send it `signum` once it has created some, and wait for its end."""
    deploy = project.popen("deploy", "--env", "test")
    wait_for_lines(deploy, "created ", after_creates)
    os.kill(deploy.pid, signum)  # the process this test started, nothing else
    _, stderr = deploy.communicate(timeout=60)
    return deploy.returncode, stderr


@pytest.mark.slow
def test_two_concurrent_deploys_one_applies_and_the_other_waits(
    prefect_server, slow_creates, tmp_path
):
    project = project_on(prefect_server, tmp_path, slow_creates.api_url)
    # Production retries: two writers on SQLite meet its locks (503, retried).
    deploy = ("deploy", "--env", "test", "--output", "json")
    first = project.popen(*deploy, PREFECT_CLIENT_MAX_RETRIES=None)
    # The first holds the lease once it writes; the second starts while it has most to go.
    head = wait_for_lines(first, "created ", 1)
    runs = [first, project.popen(*deploy, PREFECT_CLIENT_MAX_RETRIES=None)]
    done = [run.communicate(timeout=900) for run in runs]
    done[0] = (done[0][0], "".join(head) + done[0][1])
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in done]

    reports = [statuses(out) for out, _ in done]
    created = sorted(sum(status == "created" for status in r.values()) for r in reports)
    assert created == [0, TOTAL]  # no row reported created twice
    second = next(r for r in reports if "created" not in r.values())
    assert set(second.values()) == {"unchanged"}  # it planned after the first had applied
    waited = [err for _, err in done if "waiting up to" in err]
    assert len(waited) == 1, [err for _, err in done]
    assert len(on_server(project)) == TOTAL


@pytest.mark.slow
def test_a_killed_deploys_lease_expires_and_a_later_deploy_proceeds(
    prefect_server, slow_creates, tmp_path
):
    project = project_on(prefect_server, tmp_path, slow_creates.api_url)
    signal_mid_deploy(project, signal.SIGKILL, after_creates=1)
    killed_at = time.monotonic()
    slow_creates.misbehave("forward")

    refused = project.run("deploy", "--env", "test", "--lock-wait", "0")
    assert refused.returncode == 1
    (line,) = error_lines(refused.stderr)
    assert "another deploy of this project to this environment is running" in line
    assert f"flowfleet-deploy:{project.project}:test" in line

    later = project.run("deploy", "--env", "test", "--lock-wait", "300", "--output", "json")
    assert later.returncode == 0, later.stderr
    assert "waiting up to 300 s for another deploy" in later.stderr
    # Prefect's shortest lease (60 s) plus its repossessor's 15 s loop, and some slack.
    assert time.monotonic() - killed_at < 150
    assert set(statuses(later.stdout).values()) <= {"created", "unchanged"}
    assert len(on_server(project)) == TOTAL


@pytest.mark.slow
def test_ctrl_c_prints_what_was_applied_and_what_was_not_and_exits_130(
    prefect_server, slow_creates, tmp_path
):
    project = project_on(prefect_server, tmp_path, slow_creates.api_url)
    returncode, stderr = signal_mid_deploy(project, signal.SIGINT, after_creates=3)
    slow_creates.settle()  # a create held at the signal still reaches the server
    slow_creates.misbehave("forward")
    assert returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = next(line for line in stderr.splitlines() if line.startswith("interrupted: "))
    applied, _, rest = summary.removeprefix("interrupted: applied ").partition(" of ")
    planned, _, rest = rest.partition(" changes, ")
    pending = int(rest.split(" ")[0])
    assert int(planned) == TOTAL and int(applied) >= 3 and int(applied) + pending == TOTAL
    assert "\napplied: created f" in stderr and "\nnot applied: f" in stderr

    landed = len(on_server(project))
    assert int(applied) <= landed <= int(applied) + 1  # one write may have been in flight
    plan = project.run("plan", "--env", "test", "--output", "json")
    assert len(json.loads(plan.stdout)["create"]) == TOTAL - landed

    # The lease went with the run: the next deploy need not wait for it to expire. It runs
    # with the default retries, as a user's would: the shared SQLite server's scheduler can
    # hold its lock for a moment and answer a write 503 (seen twice in full runs).
    again = project.run(
        "deploy", "--env", "test", "--lock-wait", "0", PREFECT_CLIENT_MAX_RETRIES=None
    )
    assert again.returncode == 0, again.stderr
    assert len(on_server(project)) == TOTAL


@pytest.mark.slow
def test_two_concurrent_pools_runs_both_succeed(prefect_server, tmp_path):
    project = DiskProject(tmp_path / "p", prefect_server.api_url, flows=1, per_flow=1)
    runs = [project.popen("pools", "--env", "test") for _ in range(2)]
    done = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in done]
    rows = sorted(out.split()[0] for out, _ in done)
    assert rows.count("created") >= 1 and set(rows) <= {"created", "unchanged"}
    assert project.pool in snapshot(project.api_url).pools


class RacingClient(ApiClient):
    """flowfleet's client, with another run creating the pool right after our GET."""

    async def request(self, method: str, path: str, **kwargs):
        response = await super().request(method, path, **kwargs)
        if method == "GET" and path.startswith("/work_pools/") and response.status_code == 404:
            other = await super().request(
                "POST", "/work_pools/", json={"name": path.rsplit("/", 1)[1], "type": "process"}
            )
            assert other.status_code == 201
        return response


def test_a_pool_created_between_our_read_and_our_write_counts_as_existing(prefect_server):
    from flowfleet.pools import PoolSpec, ensure_pools

    name = f"raced-{uuid.uuid4().hex[:8]}"

    async def ensure():
        async with RacingClient(prefect_server.api_url) as client:
            pools = [PoolSpec(name=name, type="process", infra="worker")]
            return await ensure_pools(
                client, prefect_server.api_url, pools, project="p", environment="test"
            )

    [outcome] = asyncio.run(ensure())
    assert (outcome.full_name, outcome.status, outcome.details) == (
        f"work pool {name}",
        "unchanged",
        "created meanwhile by another run",
    )


def test_a_slot_whose_lease_the_server_lost_is_freed_by_the_next_deploy(prefect_server, tmp_path):
    """What a server restart leaves (leases live in its memory, slots in its database):
    the slot taken, the holder's published lease id unknown to the server."""
    from flowfleet.lease import limit_name
    from flowfleet.lease_holder import publish

    project = DiskProject(tmp_path / "p", prefect_server.api_url, flows=1, per_flow=1)
    create_pool(prefect_server.api_url, project.pool)
    name = limit_name(project.project, "test")
    lost = str(uuid.uuid4())

    async def leave_a_lost_lease() -> None:
        async with ApiClient(prefect_server.api_url) as client:
            made = await client.request(
                "POST", "/v2/concurrency_limits/", json={"name": name, "limit": 1}
            )
            assert made.status_code == 201
            taken = await client.request(
                "PATCH", f"/v2/concurrency_limits/{name}", json={"active_slots": 1}
            )
            assert taken.status_code == 204
            await publish(client, name, lost, 60.0)

    asyncio.run(leave_a_lost_lease())
    started = time.monotonic()
    done = project.run("deploy", "--env", "test", "--lock-wait", "60")
    assert done.returncode == 0, done.stderr
    assert f"the server no longer has lease {lost} that held {name}" in done.stderr
    assert time.monotonic() - started < 45  # freed at once, not after the 60 s wait
    assert len(on_server(project)) == 1
