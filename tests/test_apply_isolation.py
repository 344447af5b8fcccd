"""One deployment's failed write fails alone: the rest apply, the run exits non-zero,
and the next plan shows exactly what is left. Real server, real refusals.

- The server refuses one deployment's job variables: its work pool's base job template
  (changed by hand) wants an integer where the stock template takes a boolean, so
  `validate` passes and the server answers 422 for that deployment only.
- A name or flow name that `validate` refuses, slipped past it through the Python API:
  the request body cannot be built (Prefect's schema) or the server refuses the flow.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from deploy_fleet import DeployFleet
from disk_project import DiskProject, dedent, error_lines
from flowfleet import engine

pytestmark = pytest.mark.server


def strict_pool(api_url: str, name: str) -> None:
    """A process pool whose template (edited by hand) wants an integer `stream_output`."""
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["stream_output"] = {"type": "integer"}
    with httpx.Client(base_url=api_url, timeout=30) as client:
        body = {"name": name, "type": "process", "base_job_template": template}
        client.post("/work_pools/", json=body).raise_for_status()


FLOWS = """
from prefect import flow
from flowfleet import DeploymentConfig
from {package} import registry

REFUSED = dict(job_variables={{"stream_output": False}})


@registry(DeploymentConfig(name="d0", cron="{cron}"))
@registry(DeploymentConfig(name="d1", cron="0 2 * * *", **({d1})))
@flow(name="f00-{uid}")
def f00(days: int = 1) -> None:
    pass


@registry(DeploymentConfig(name="d0", cron="0 3 * * *", **REFUSED))
@flow(name="f01-{uid}")
def f01(days: int = 1) -> None:
    pass
"""


def write_flows(project: DiskProject, cron: str, d1: str) -> None:
    text = FLOWS.format(package=project.package, uid=project.uid, cron=cron, d1=d1)
    (project.site / project.package / "flows.py").write_text(dedent(text))
    for cached in (project.site / project.package).glob("__pycache__/flows*"):
        cached.unlink()


def planned(project: DiskProject) -> dict[str, list[str]]:
    done = project.run("plan", "--env", "test", "--output", "json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    return {key: sorted(c["full_name"] for c in plan[key]) for key in ("create", "update")}


def test_a_refused_write_fails_alone_exits_1_and_the_next_plan_shows_it(
    prefect_server, tmp_path: Path
):
    project = DiskProject(tmp_path / "p", prefect_server.api_url, flows=0, per_flow=0)
    strict_pool(prefect_server.api_url, project.pool)
    f00, f01 = f"f00-{project.uid}", f"f01-{project.uid}"
    write_flows(project, cron="0 1 * * *", d1="{}")

    first = project.run("deploy", "--env", "test", "--output", "json")
    assert first.returncode == 1
    assert "Traceback" not in first.stderr
    (line,) = error_lines(first.stderr)  # one line: which deployment, the server's reason
    assert line.startswith(f"error: {f01}/d0: POST ") and "answered 422" in line
    assert "stream_output" in line
    statuses = {r["full_name"]: r["status"] for r in json.loads(first.stdout)["results"]}
    assert statuses == {f"{f00}/d0": "created", f"{f00}/d1": "created", f"{f01}/d0": "failed"}
    assert planned(project) == {"create": [f"{f01}/d0"], "update": []}

    # An update refused: the other update still lands, and the refused one stays planned.
    write_flows(project, cron="0 4 * * *", d1="REFUSED")
    second = project.run("deploy", "--env", "test", "--output", "json")
    assert second.returncode == 1
    lines = error_lines(second.stderr)
    assert [line.split(": POST ")[0] for line in lines] == [
        f"error: {f00}/d1",
        f"error: {f01}/d0",
    ]
    statuses = {r["full_name"]: r["status"] for r in json.loads(second.stdout)["results"]}
    assert statuses == {f"{f00}/d0": "updated", f"{f00}/d1": "failed", f"{f01}/d0": "failed"}
    assert planned(project) == {"create": [f"{f01}/d0"], "update": [f"{f00}/d1"]}


@pytest.fixture
def fleet(prefect_server, tmp_path) -> DeployFleet:
    return DeployFleet(tmp_path, prefect_server.api_url)


def deploy_with(fleet: DeployFleet, short: str, **fields: str):
    """Deploy the fleet with one deployment's fields set past `validate` (Python API)."""
    target = fleet.target()
    bad = next(d for d in target.desired if d.flow == fleet.flow_name(short))
    for key, value in fields.items():
        setattr(bad, key, value)
    bad.full_name = f"{bad.flow}/{bad.name}"
    asyncio.run(engine.pools(target))
    _, report = asyncio.run(engine.deploy(target, client=fleet.client()))
    return bad.full_name, report


def test_a_body_prefect_cannot_build_fails_alone(fleet):
    for short in ("ok", "bad", "other"):
        fleet.add(short)
    bad, report = deploy_with(fleet, "bad", name="a/b")  # Prefect's name pattern refuses '/'
    statuses = {o.full_name: o.status for o in report.outcomes}
    assert statuses == {
        f"{fleet.flow_name('ok')}/default": "created",
        bad: "failed",
        f"{fleet.flow_name('other')}/default": "created",
    }
    (failed,) = report.failed
    assert failed.details == "DeploymentCreate: name: String should match pattern '^[^/%&><]*$'"
    assert not report.ok
    assert set(fleet.server_deployments()) == {
        f"{fleet.flow_name('ok')}/default",
        f"{fleet.flow_name('other')}/default",
    }


def test_a_flow_the_server_refuses_fails_only_its_deployments(fleet):
    for short in ("ok", "bad"):
        fleet.add(short)
    bad, report = deploy_with(fleet, "bad", flow=f"x/{fleet.flow_name('bad')}")
    statuses = {o.full_name: o.status for o in report.outcomes}
    assert statuses == {f"{fleet.flow_name('ok')}/default": "created", bad: "failed"}
    (failed,) = report.failed
    assert failed.details.startswith(f"creating flow 'x/{fleet.flow_name('bad')}': POST ")
    assert "answered 422" in failed.details
    assert set(fleet.server_deployments()) == {f"{fleet.flow_name('ok')}/default"}
