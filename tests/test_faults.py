"""Faults: the server dies mid-apply, is unreachable, answers 503, or stalls.

The kill tests use their own server (SQLite in tmp, not the session one), behind a
counting loopback proxy: after the N-th write of a kind reaches the server, the
test SIGKILLs the server's process group, the deploy run must stop with one clear
line, and after a restart on the same database a second run must converge to
exactly the desired set. The other tests put a misbehaving proxy in front of it.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from disk_project import DiskProject, error_lines
from flowfleet.devserver import LocalServer, free_port, start_server
from misbehaving import Proxy
from server_kinds import START_TIMEOUT
from snapshots import create_pool, hand_made, snapshot
from sqlite_template import sqlite_template

pytestmark = pytest.mark.server

FLOWS, PER_FLOW = 12, 5  # 60 deployments


class KillableServer:
    """A server this module started, killed with SIGKILL and restarted on the same DB."""

    def __init__(self, home: Path, database_url: str | None, sqlite_template: Path):
        self.home = home
        self.database_url = database_url
        self.server: LocalServer = start_server(
            home,
            services=False,
            database_url=database_url,
            timeout=START_TIMEOUT,
            sqlite_template=sqlite_template,
        )
        self.kills = 0

    @property
    def api_url(self) -> str:
        return self.server.api_url

    def kill(self) -> None:
        process = self.server.process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)  # only the group this test started
        self.kills += 1

    def restart(self) -> None:
        assert self.server.process is not None
        self.server.process.wait(30)
        self.server = start_server(
            self.home,
            self.server.port,
            services=False,
            database_url=self.database_url,
            timeout=START_TIMEOUT,
        )

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def killable(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KillableServer]:
    """SQLite; a test parametrised with "postgresql" runs on a PostgreSQL database too."""
    database_url = None
    if getattr(request, "param", "sqlite") == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        database_url = cluster.create_database(f"faults_{uuid.uuid4().hex[:8]}")
    server = KillableServer(
        tmp_path_factory.mktemp("fault-server"), database_url, sqlite_template(tmp_path_factory)
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def proxy(killable: KillableServer) -> Iterator[Proxy]:
    with Proxy(killable.server.port) as running:
        yield running


def kill_after(proxy: Proxy, server: KillableServer, method: str, path: str, n: int) -> None:
    """Kill the server right after the n-th `method path` has been passed to it."""
    proxy.seen.clear()

    def hook(seen_method: str, seen_path: str, count: int) -> None:
        if (seen_method, seen_path) == (method, path) and count == n:
            server.kill()

    proxy.on_request = hook


def assert_stopped_with_one_line(result, api_url: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith("error: stopped after "), line
    assert api_url in line, line
    assert "running the same command again finishes the job" in line


def assert_converged(project: DiskProject, api_url: str, want: set[str], manual: dict) -> None:
    state = snapshot(api_url)
    mine = [n for n in state.full_names if project.uid in n.split("/")[0]]
    assert len(mine) == len(set(mine)), "a deployment exists twice"
    assert set(mine) == want, (sorted(set(mine) - want), sorted(want - set(mine)))
    flows = [n for n in state.flow_names if n.startswith("f") and n.endswith(project.uid)]
    assert len(flows) == len(set(flows)) == FLOWS, "a flow is missing or exists twice"
    for full_name, before in manual.items():
        assert state.deployments[full_name] == before, f"{full_name} was touched"


def test_kills_during_first_deploy_update_and_prune_converge(
    killable: KillableServer, proxy: Proxy, tmp_path: Path
) -> None:
    project = DiskProject(tmp_path / "fleet", proxy.api_url, flows=FLOWS, per_flow=PER_FLOW)
    create_pool(killable.api_url, project.pool)
    # Hand-made deployments: one on a flow the project owns, one on a flow it does not.
    hand_made(killable.api_url, project.flow_name(0), "manual", work_pool_name=project.pool)
    hand_made(killable.api_url, f"ops-{project.uid}", "nightly")
    before = snapshot(killable.api_url)
    manual = {
        n: before.deployments[n]
        for n in (f"{project.flow_name(0)}/manual", f"ops-{project.uid}/nightly")
    }
    everything = project.full_names(FLOWS, PER_FLOW) | {f"{project.flow_name(0)}/manual"}
    everything_ops = everything | {f"ops-{project.uid}/nightly"}

    # 1. The first deploy dies after the 30th deployment write (in flight).
    kill_after(proxy, killable, "POST", "/api/deployments/", 30)
    result = project.run("deploy", "--env", "test", "--concurrency", "1")
    proxy.on_request = None
    assert_stopped_with_one_line(result, proxy.api_url)
    killable.restart()
    again = project.run("deploy", "--env", "test", "--concurrency", "1", "--output", "json")
    assert again.returncode == 0, again.stderr
    assert_converged(project, killable.api_url, everything_ops, manual)

    # 2. An update of all 60 dies after the 20th write.
    project.write_flows(FLOWS, PER_FLOW, extra=', description="v2"')
    kill_after(proxy, killable, "POST", "/api/deployments/", 20)
    result = project.run("deploy", "--env", "test", "--concurrency", "1")
    proxy.on_request = None
    assert_stopped_with_one_line(result, proxy.api_url)
    killable.restart()
    again = project.run("deploy", "--env", "test", "--concurrency", "1")
    assert again.returncode == 0, again.stderr
    assert_converged(project, killable.api_url, everything_ops, manual)
    state = snapshot(killable.api_url)
    for name in project.full_names(FLOWS, PER_FLOW):
        assert state.deployment(name)["description"] == "v2", name

    # 3. A prune of 24 dies after the 10th delete; the hand-made ones are never candidates.
    project.write_flows(FLOWS, 3, extra=', description="v2"')
    proxy.on_request = _deletes_killer(killable, 10)
    result = project.run("deploy", "--env", "test", "--prune", "--concurrency", "1")
    proxy.on_request = None
    assert_stopped_with_one_line(result, proxy.api_url)
    killable.restart()
    again = project.run("deploy", "--env", "test", "--prune", "--concurrency", "1")
    assert again.returncode == 0, again.stderr
    kept = project.full_names(FLOWS, 3) | {
        f"{project.flow_name(0)}/manual",
        f"ops-{project.uid}/nightly",
    }
    assert_converged(project, killable.api_url, kept, manual)

    # Converged: nothing left to do.
    plan = project.run("plan", "--env", "test", "--prune", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert killable.kills >= 3


def _deletes_killer(server: KillableServer, n: int):
    deletes = 0

    def hook(method: str, path: str, count: int) -> None:
        nonlocal deletes
        if method == "DELETE" and path.startswith("/api/deployments/"):
            deletes += 1
            if deletes == n:
                server.kill()

    return hook


@pytest.mark.parametrize("killable", ["sqlite", "postgresql"], indirect=True)
def test_kill_while_creating_flows_converges(
    killable: KillableServer, proxy: Proxy, tmp_path: Path
) -> None:
    project = DiskProject(tmp_path / "fleet", proxy.api_url, flows=FLOWS, per_flow=PER_FLOW)
    create_pool(killable.api_url, project.pool)
    kill_after(proxy, killable, "POST", "/api/flows/", 4)
    result = project.run("deploy", "--env", "test", "--concurrency", "1")
    proxy.on_request = None
    assert_stopped_with_one_line(result, proxy.api_url)
    assert "stopped after 0 of 60 changes" in result.stderr
    killable.restart()
    # (--concurrency 1: on SQLite, concurrent writers get 503s for database locks.)
    again = project.run("deploy", "--env", "test", "--concurrency", "1")
    assert again.returncode == 0, again.stderr
    assert_converged(project, killable.api_url, project.full_names(FLOWS, PER_FLOW), {})


# ---------------------------------------------------------------- unreachable, 503, stalls


def small_project(tmp_path: Path, api_url: str) -> DiskProject:
    return DiskProject(tmp_path / "small", api_url, flows=2, per_flow=2)


@pytest.mark.parametrize("command", ["plan", "deploy", "pools", "prune"])
def test_unreachable_server_fails_fast_with_one_line(tmp_path: Path, command: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    project = small_project(tmp_path, url)
    started = time.monotonic()
    result = project.run(command, "--env", "test")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = error_lines(result.stderr)
    assert f"cannot reach the Prefect API at {url}" in line, line
    assert time.monotonic() - started < 30


# DiskProject runs with PREFECT_CLIENT_MAX_RETRIES=1 so failures come fast; None removes
# it, so the retries users get (flowfleet's reads and write patience) are exercised too.
@pytest.mark.parametrize("retries", ["2", None], ids=["max-retries-2", "production-defaults"])
def test_503_then_recovery_is_retried_and_succeeds(
    killable: KillableServer, proxy: Proxy, tmp_path: Path, retries: str | None
) -> None:
    project = small_project(tmp_path, proxy.api_url)
    create_pool(killable.api_url, project.pool)
    # Two reads and two deployment writes are refused before the server "recovers".
    proxy.refused.clear()
    reads = (lambda method, path: path.endswith("/filter"), 2)
    proxy.misbehave("503", *reads)
    planned = project.run(
        "plan", "--env", "test", "--output", "json", PREFECT_CLIENT_MAX_RETRIES=retries
    )
    assert planned.returncode == 0, planned.stderr
    assert sum(proxy.refused.values()) == 2
    proxy.refused.clear()
    proxy.misbehave("503", lambda method, path: path == "/api/deployments/", 2)
    deployed = project.run(
        "deploy", "--env", "test", "--concurrency", "1", PREFECT_CLIENT_MAX_RETRIES=retries
    )
    proxy.misbehave("forward")
    assert deployed.returncode == 0, deployed.stderr
    assert proxy.refused[("POST", "/api/deployments/")] == 2
    assert snapshot(killable.api_url).mine(project.uid) == project.full_names(2, 2)


@pytest.mark.parametrize(
    "mode, what",
    [("503", "answered 503: proxy says: try again later"), ("stall", "timed out talking to")],
)
@pytest.mark.parametrize("phase", ["read", "write"])
def test_503_forever_or_stall_fails_clearly_in_bounded_time(
    killable: KillableServer, proxy: Proxy, tmp_path: Path, mode: str, what: str, phase: str
) -> None:
    project = small_project(tmp_path, proxy.api_url)
    create_pool(killable.api_url, project.pool)
    before = snapshot(killable.api_url)
    if phase == "read":
        proxy.misbehave(mode, lambda method, path: path.endswith("/filter"))
    else:
        # The deployment writes: the deploy lease (tests/test_concurrent_deploys.py) passes.
        lease = ("/v2/concurrency_limits", "/variables/")
        proxy.misbehave(
            mode,
            lambda method, path: (
                method != "GET"
                and "/filter" not in path
                and not path.endswith("/count")  # reads too (the read-ahead's size check)
                and not any(part in path for part in lease)
            ),
        )
    started = time.monotonic()
    try:
        result = project.run("deploy", "--env", "test", PREFECT_API_REQUEST_TIMEOUT="2")
    finally:
        proxy.misbehave("forward")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = error_lines(result.stderr)
    assert what in line and proxy.api_url.rsplit("/api", 1)[0] in line, line
    if phase == "read":
        assert line.startswith("error: reading the server failed: "), line
    else:
        assert line.startswith("error: stopped after 0 of 4 changes: "), line
    assert elapsed < 45, elapsed
    after = snapshot(killable.api_url)
    assert after.mine(project.uid) == before.mine(project.uid) == set()
