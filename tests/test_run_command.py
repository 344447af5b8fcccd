"""`flowfleet run` against a real server and the demo's real process worker."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from disk_project import DiskProject, error_lines
from flowfleet.devserver import LocalServer
from flowfleet.local import pidfile
from flowfleet.local.state import StateDir
from flowfleet.local.worker import ensure_worker, worker_name
from server_kinds import AUTH_STRING

pytestmark = pytest.mark.server


def test_run_watches_a_deployment_to_its_final_state_on_a_basic_auth_server(
    auth_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's steps (pools, deploy, worker, run), all with the server's auth string."""
    project = DiskProject(tmp_path / "run", auth_server.api_url, flows=1, per_flow=1)
    auth = {"PREFECT_API_AUTH_STRING": AUTH_STRING}
    for command in (("pools", "--env", "test"), ("deploy", "--env", "test")):
        done = project.run(*command, **auth)
        assert done.returncode == 0, done.stdout + done.stderr
    name = f"{project.flow_name(0)}/d0"

    # The worker imports the project's flows and authenticates like the CLI.
    monkeypatch.setenv("PYTHONPATH", str(project.site))
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", AUTH_STRING)
    state = StateDir.at(tmp_path / "state")
    ensure_worker(state, auth_server.api_url, project.pool)
    try:
        done = project.run(
            "run",
            name,
            "--env",
            "test",
            "--param",
            "days=3",
            "--watch",
            "--timeout",
            "300",
            **auth,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        first, *_, last = done.stdout.strip().splitlines()
        assert last.endswith(": Completed"), done.stdout
        run_id = re.search(r"\(([0-9a-f-]{36})\) of " + re.escape(name), first).group(1)
        with httpx.Client(base_url=auth_server.api_url, auth=tuple(AUTH_STRING.split(":"))) as c:
            flow_run = c.get(f"/flow_runs/{run_id}").json()
        assert flow_run["parameters"] == {"days": 3}
        assert flow_run["state"]["type"] == "COMPLETED"
    finally:
        pidfile.stop(state.pidfile(worker_name(project.pool)))

    unknown = project.run("run", f"{project.flow_name(0)}/nope", "--env", "test", **auth)
    assert unknown.returncode == 1
    [line] = error_lines(unknown.stderr)
    assert "no deployment" in line and "did you mean" in line and name in line, line
