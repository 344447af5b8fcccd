"""Importing a trigger from a real server: a hand-made automation that runs one deployment
after another becomes `after(...)` in the code, and `deploy --adopt` takes that same
automation over (no second one), after which a plan has nothing to do."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from flowfleet.devserver import LocalServer
from import_workspace import ImportWorkspace

pytestmark = pytest.mark.server

FLOWS = '''\
"""Two flows: one runs after the other."""

from prefect import flow


@flow(name="up-{uid}")
def up(days: int = 1) -> int:
    return days


@flow(name="down-{uid}")
def down(upstream: str = "") -> str:
    return upstream
'''


def automations_named(api_url: str, name: str) -> list[dict]:
    with httpx.Client(base_url=api_url, timeout=60) as client:
        rows = client.post("/automations/filter", json={}).json()
    return [a for a in rows if a["name"] == name]


def test_a_hand_made_after_automation_imports_as_after_and_is_adopted(
    tmp_path, prefect_server: LocalServer
) -> None:
    api, uid = prefect_server.api_url, uuid.uuid4().hex[:8]
    pool = f"chain-{uid}"
    ws = ImportWorkspace(
        tmp_path / "ws",
        api,
        team="chain",
        infra="worker",
        environment=f'default_infra = "worker"\n\n[pools]\nworker = "{pool}"\n',
    )
    ws.write("flows/chain/src/chain_flows/jobs.py", FLOWS.format(uid=uid))
    name = f"down after up {uid}"
    with httpx.Client(base_url=api, timeout=60) as client:
        client.post("/work_pools/", json={"name": pool, "type": "process"}).raise_for_status()
        ids = {}
        for flow, function in ((f"up-{uid}", "up"), (f"down-{uid}", "down")):
            flow_id = client.post("/flows/", json={"name": flow}).json()["id"]
            body = {
                "name": "default",
                "flow_id": flow_id,
                "entrypoint": f"chain_flows.jobs:{function}",
                "work_pool_name": pool,
            }
            response = client.post("/deployments/", json=body)
            response.raise_for_status()
            ids[function] = response.json()["id"]
        automation = {
            "name": name,
            "trigger": {
                "type": "event",
                "match": {"prefect.resource.id": "prefect.flow-run.*"},
                "match_related": {
                    "prefect.resource.role": "deployment",
                    "prefect.resource.id": f"prefect.deployment.{ids['up']}",
                },
                "expect": ["prefect.flow-run.Completed"],
                "for_each": ["prefect.resource.id"],
                "posture": "Reactive",
                "threshold": 1,
                "within": 0,
            },
            "actions": [
                {
                    "type": "run-deployment",
                    "source": "selected",
                    "deployment_id": ids["down"],
                    "parameters": {"upstream": "{{ event.resource.id }}"},
                }
            ],
        }
        client.post("/automations/", json=automation).raise_for_status()

    imported = ws.run("import", "--from-server", "--env", "prod", "--flow", f"*-{uid}", "--write")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    jobs = (ws.package / "jobs.py").read_text()
    flat = " ".join(jobs.split())  # as ruff would lay it out, whatever the width
    call = f'after( "up-{uid}/default", name="{name}", '
    assert call + 'parameters={"upstream": "{{ event.resource.id }}"}, )' in flat, jobs
    assert "from flowfleet import DeploymentConfig, after" in jobs

    plan = ws.run("plan", "--env", "prod", "--adopt", "--output", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    section = json.loads(plan.stdout)["automations"]
    assert section["create"] == [] and section["conflicts"] == []
    [adopted] = section["update"]
    assert adopted["full_name"] == name and set(adopted["changes"]) == {"tags"}

    deploy = ws.run("deploy", "--env", "prod", "--adopt")
    assert deploy.returncode == 0, deploy.stdout[-2000:] + deploy.stderr[-2000:]
    [owned] = automations_named(api, name)  # the same one, taken over: not a second
    assert "flowfleet.managed" in owned["tags"]
    again = ws.run("plan", "--env", "prod", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
