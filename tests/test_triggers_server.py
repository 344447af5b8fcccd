"""Triggers against a real server: deployed as automations flowfleet owns, fired by a real
run on the demo's process worker, removed with the code, and a hand-made one left alone.

The session server runs Prefect's event services (triggers and actions are on by
default in `prefect server start`; conftest starts it with services).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from disk_project import DiskProject, error_lines
from flowfleet.devserver import LocalServer
from flowfleet.local import pidfile
from flowfleet.local.state import StateDir
from flowfleet.local.worker import ensure_worker, worker_name

pytestmark = [pytest.mark.server, pytest.mark.slow]

MODULE = """\
from prefect import flow

from flowfleet import DeploymentConfig, after
from {package} import registry


@registry(DeploymentConfig(name="d0"))
@flow(name="up-{uid}")
def up(days: int = 1) -> int:
    return days


@registry(DeploymentConfig(name="d0", triggers=[{triggers}]))
@flow(name="down-{uid}")
def down(upstream: str = "") -> str:
    return upstream


"""
OTHER = """

@registry(DeploymentConfig(name="d0", triggers=[{other}]))
@flow(name="other-{uid}")
def other(days: int = 1) -> int:
    return days
"""


def write(project: DiskProject, triggers: str, other: str | None = "") -> None:
    """The project's flows: up, down with `triggers`, and other with `other` (None: gone)."""
    text = (MODULE + ("" if other is None else OTHER)).format(
        package=project.package, uid=project.uid, triggers=triggers, other=other
    )
    (project.site / project.package / "flows.py").write_text(text)
    for cached in (project.site / project.package).glob("__pycache__/flows*"):
        cached.unlink()


def automations(api_url: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=api_url, timeout=60) as client:
        response = client.post("/automations/filter", json={})
        response.raise_for_status()
        return response.json()


def mine(api_url: str, project: DiskProject) -> dict[str, dict[str, Any]]:
    tag = f"flowfleet.project={project.project}"
    return {a["name"]: a for a in automations(api_url) if tag in a["tags"]}


def deployment_id(api_url: str, full_name: str) -> str:
    flow, name = full_name.split("/")
    with httpx.Client(base_url=api_url, timeout=60) as client:
        return client.get(f"/deployments/name/{flow}/{name}").json()["id"]


def flow_runs(api_url: str, deployment: str) -> list[dict[str, Any]]:
    body = {"deployments": {"id": {"any_": [deployment]}}}
    with httpx.Client(base_url=api_url, timeout=60) as client:
        return client.post("/flow_runs/filter", json=body).json()


def wait_for(what: str, check, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_a_cross_team_trigger_becomes_an_automation_that_a_real_run_fires(
    prefect_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = prefect_server.api_url
    project = DiskProject(tmp_path / "p", api, flows=0, per_flow=0)
    uid = project.uid
    after_up = f"after('up-{uid}/d0', parameters={{'upstream': '{{{{ event.resource.id }}}}'}})"
    write(project, after_up, other=f"after('up-{uid}/d0', state='Failed')")
    for command in (("pools", "--env", "test"), ("deploy", "--env", "test")):
        done = project.run(*command)
        assert done.returncode == 0, done.stdout + done.stderr

    up_id = deployment_id(api, f"up-{uid}/d0")
    down_id = deployment_id(api, f"down-{uid}/d0")
    owned = mine(api, project)
    assert set(owned) == {
        f"down-{uid}/d0 after up-{uid}/d0 Completed",
        f"other-{uid}/d0 after up-{uid}/d0 Failed",
    }
    fired = owned[f"down-{uid}/d0 after up-{uid}/d0 Completed"]
    assert fired["trigger"]["expect"] == ["prefect.flow-run.Completed"]
    assert fired["trigger"]["match_related"]["prefect.resource.id"] == f"prefect.deployment.{up_id}"
    assert [(a["type"], a["deployment_id"]) for a in fired["actions"]] == [
        ("run-deployment", down_id)
    ]
    assert {
        "flowfleet.managed",
        "flowfleet.env=test",
        f"flowfleet.project={project.project}",
    } <= set(fired["tags"])

    again = project.run("plan", "--env", "test", "--detailed-exitcode", "--output", "json")
    assert again.returncode == 0, again.stdout + again.stderr  # read back: nothing to change
    graph = project.run("graph", "--env", "test")
    assert f"up_{uid}_d0 -->|Completed| down_{uid}_d0" in graph.stdout

    # A real run of the upstream on the demo's process worker starts the downstream.
    monkeypatch.setenv("PYTHONPATH", str(project.site))
    state = StateDir.at(tmp_path / "state")
    ensure_worker(state, api, project.pool)
    try:
        with httpx.Client(base_url=api, timeout=60) as client:
            run = client.post(f"/deployments/{up_id}/create_flow_run", json={}).json()
        wait_for(
            "the upstream run to complete",
            lambda: [r for r in flow_runs(api, up_id) if r["state_type"] == "COMPLETED"],
        )
        [downstream] = wait_for("the triggered downstream run", lambda: flow_runs(api, down_id))
        assert downstream["parameters"] == {"upstream": f"prefect.flow-run.{run['id']}"}
    finally:
        pidfile.stop(state.pidfile(worker_name(project.pool)))

    # A hand-made automation, then the trigger removed from code and pruned.
    with httpx.Client(base_url=api, timeout=60) as client:
        hand_made = {
            "name": f"hand-made-{uid}",
            "trigger": {"type": "event", "expect": ["external.thing"], "posture": "Reactive"},
            "actions": [{"type": "do-nothing"}],
        }
        client.post("/automations/", json=hand_made).raise_for_status()
    write(project, "", other=f"after('up-{uid}/d0', state='Failed')")
    done = project.run("deploy", "--env", "test", "--prune")
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(mine(api, project)) == {f"other-{uid}/d0 after up-{uid}/d0 Failed"}
    assert f"hand-made-{uid}" in {a["name"] for a in automations(api)}

    # `prune` deletes a deployment no longer declared, and the automation that runs it.
    write(project, "", other=None)
    done = project.run("prune", "--env", "test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert mine(api, project) == {}
    assert f"hand-made-{uid}" in {a["name"] for a in automations(api)}


@pytest.mark.parametrize(
    ("triggers", "other", "message"),
    [
        ("after('nowhere/d0')", "", "runs after nowhere/d0, which is not deployed in environment"),
        ("after('other-{uid}/d0')", "after('down-{uid}/d0')", "trigger cycle: "),
    ],
)
def test_bad_triggers_are_one_line_and_nothing_is_written(
    prefect_server: LocalServer, tmp_path: Path, triggers: str, other: str, message: str
) -> None:
    project = DiskProject(tmp_path / "p", prefect_server.api_url, flows=0, per_flow=0)
    write(project, triggers.format(uid=project.uid), other.format(uid=project.uid))
    before = automations(prefect_server.api_url)
    done = project.run("deploy", "--env", "test")
    assert done.returncode == 1
    # One line for the trigger, then the partial-load summary: the package is left alone.
    [line, summary] = error_lines(done.stderr)
    assert message in line and "Traceback" not in done.stderr
    assert "did not load and were not deployed" in summary
    with httpx.Client(base_url=prefect_server.api_url, timeout=60) as client:
        names = [d["name"] for d in client.post("/flows/filter", json={}).json()]
    assert not [n for n in names if project.uid in n]
    assert automations(prefect_server.api_url) == before
