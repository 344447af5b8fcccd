"""Work pools as code against a real Prefect server.

An environment's `[pools.<key>]` settings land on the server's pool (template
defaults, concurrency limit, queues) when `deploy` runs, before its deployments; a
pool edited by hand shows in `plan --detailed-exitcode` and `deploy` puts back only
what is declared; a pool flowfleet did not create is left alone without `--adopt`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate

from deploy_fleet import DeployFleet
from disk_project import DiskProject
from flowfleet import EcsTask, engine

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _env_file(fleet: DeployFleet, ecs: str, k8s: str) -> None:
    (fleet.workspace.environments_dir / "test.toml").write_text(
        f"""\
api_url = "{fleet.api_url}"
default_infra = "ecs"
image_registry = "registry.example"

[pools.ecs]
name = "{ecs}"
concurrency_limit = 7
[pools.ecs.variables]
cluster = "flows-prod"
vpc_id = "vpc-0abc"
execution_role_arn = "arn:aws:iam::222222222222:role/flows-exec"
network_configuration = {{ subnets = ["subnet-0p1"], securityGroups = ["sg-0p"] }}
[pools.ecs.queues.critical]
priority = 1
concurrency_limit = 3
[pools.ecs.queues.bulk]
priority = 5

[pools.kubernetes]
name = "{k8s}"
[pools.kubernetes.variables]
namespace = "flows"
service_account_name = "flows-runner"
finished_job_ttl = 600
"""
    )


def _pool(api_url: str, name: str) -> tuple[Any, dict[str, Any]]:
    async def read() -> tuple[Any, dict[str, Any]]:
        async with PrefectClient(api=api_url) as client:
            pool = await client.read_work_pool(name)
            queues = await client.read_work_queues(work_pool_name=name)
        return pool, {q.name: q for q in queues}

    return asyncio.run(read())


def test_declared_ecs_and_kubernetes_settings_land_on_the_pools(prefect_server, tmp_path) -> None:
    fleet = DeployFleet(tmp_path / "ws", prefect_server.api_url)
    fleet.extra_plugins["kubernetes"] = __import__("flowfleet_kubernetes")
    ecs, k8s = f"ecs-{fleet.uid}", f"k8s-{fleet.uid}"
    _env_file(fleet, ecs, k8s)
    fleet.add("billing", image="flows:v1", work_queue="critical", infra=EcsTask(cpu=512))
    fleet.add("ml", image="flows:v1", infra={"type": "kubernetes", "cpu_request": "500m"})

    before = fleet.plan()
    assert before.blockers == []  # a declared pool that is missing is created, not a blocker
    assert {p.name: p.action for p in before.pools} == {ecs: "create", k8s: "create"}
    # `deploy` alone: pools first, then the deployments that need them.
    planned, report = asyncio.run(engine.deploy(fleet.target(), client=fleet.client()))
    assert report is not None and report.ok, report and report.failed
    statuses = {o.full_name: o.status for o in report.outcomes}
    assert statuses[f"work pool {ecs}"] == statuses[f"work pool {k8s}"] == "created"

    pool, queues = _pool(prefect_server.api_url, ecs)
    props = pool.base_job_template["variables"]["properties"]
    assert props["cluster"]["default"] == "flows-prod"
    assert props["vpc_id"]["default"] == "vpc-0abc"
    assert props["network_configuration"]["default"]["subnets"] == ["subnet-0p1"]
    assert props["execution_role_arn"]["default"].startswith("arn:aws:iam::222222222222:")
    assert props["cpu"]["default"] is None  # undeclared: the stock default stays
    assert "task_definition" in pool.base_job_template["job_configuration"]
    assert pool.concurrency_limit == 7
    assert "Managed by flowfleet" in pool.description
    assert (queues["critical"].priority, queues["critical"].concurrency_limit) == (1, 3)
    assert queues["bulk"].priority == 5 and queues["bulk"].concurrency_limit is None
    deployment = fleet.server_deployments()[f"{fleet.flow_name('billing')}/default"]
    assert deployment.work_queue_name == "critical"

    kube, _ = _pool(prefect_server.api_url, k8s)
    kube_props = kube.base_job_template["variables"]["properties"]
    assert kube.type == "kubernetes"
    assert kube_props["namespace"]["default"] == "flows"
    assert kube_props["service_account_name"]["default"] == "flows-runner"
    assert kube_props["finished_job_ttl"]["default"] == 600
    assert "cpu_request" in kube_props  # the plugin's template, not Prefect's bare default

    again = fleet.plan()
    assert {p.name: p.action for p in again.pools} == {ecs: "unchanged", k8s: "unchanged"}
    assert not again.has_changes


def test_a_foreign_pool_is_not_rewritten_without_adopt(prefect_server, tmp_path) -> None:
    fleet = DeployFleet(tmp_path / "ws", prefect_server.api_url)
    fleet.extra_plugins["kubernetes"] = __import__("flowfleet_kubernetes")
    ecs, k8s = f"ecs-{fleet.uid}", f"k8s-{fleet.uid}"
    _env_file(fleet, ecs, k8s)
    fleet.add("billing", image="flows:v1", infra=EcsTask(cpu=512))

    async def create_by_hand() -> None:
        from prefect_aws.workers.ecs_worker import ECSWorker

        async with PrefectClient(api=prefect_server.api_url) as client:
            await client.create_work_pool(
                WorkPoolCreate(
                    name=ecs,
                    type="ecs",
                    description="made by the platform team",
                    base_job_template=ECSWorker.get_default_base_job_template(),
                )
            )

    asyncio.run(create_by_hand())
    [skipped] = asyncio.run(engine.pools(fleet.target()))  # `flowfleet pools`: same code
    assert (skipped.full_name, skipped.status) == (f"work pool {ecs}", "skipped")
    assert "--adopt" in skipped.details
    planned, report = asyncio.run(engine.deploy(fleet.target(), client=fleet.client()))
    assert report is None  # blocked: nothing written
    [blocker] = [b for b in planned.blockers if ecs in b]
    assert "not managed by flowfleet" in blocker and "--adopt" in blocker
    pool, queues = _pool(prefect_server.api_url, ecs)
    assert pool.base_job_template["variables"]["properties"]["cluster"]["default"] is None
    assert "critical" not in queues and fleet.server_deployments() == {}

    planned, report = asyncio.run(engine.deploy(fleet.target(), client=fleet.client(), adopt=True))
    assert report is not None and report.ok, report and report.failed
    [row] = [p for p in planned.pools if p.name == ecs]
    assert row.action == "update" and "owner" in row.changes
    pool, queues = _pool(prefect_server.api_url, ecs)
    assert pool.base_job_template["variables"]["properties"]["cluster"]["default"] == "flows-prod"
    assert pool.description.startswith("made by the platform team")
    assert "Managed by flowfleet" in pool.description and "critical" in queues


PROCESS_ENV = """\
api_url = "{api_url}"
default_infra = "worker"

[pools.worker]
name = "{pool}"
concurrency_limit = 4
[pools.worker.variables]
working_dir = "/srv/flows"
stream_output = false
"""


def test_a_pool_changed_by_hand_is_drift_and_deploy_puts_back_only_the_declared(
    prefect_server, tmp_path: Path
) -> None:
    project = DiskProject(tmp_path / "p", prefect_server.api_url, flows=1, per_flow=1)
    (project.root / "infra" / "environments" / "test.toml").write_text(
        PROCESS_ENV.format(api_url=prefect_server.api_url, pool=project.pool)
    )
    first = project.run("deploy", "--env", "test", "--output", "json")
    assert first.returncode == 0, first.stderr
    results = {r["full_name"]: r["status"] for r in json.loads(first.stdout)["results"]}
    assert results[f"work pool {project.pool}"] == "created"
    assert project.run("plan", "--env", "test", "--detailed-exitcode").returncode == 0

    # By hand: a declared default and the limit move, an undeclared default and a
    # job_configuration key are added.
    pool, _ = _pool(prefect_server.api_url, project.pool)
    template = pool.base_job_template
    props = template["variables"]["properties"]
    props["working_dir"]["default"] = "/tmp/by-hand"
    props["command"]["default"] = "python -m custom"
    template["job_configuration"]["labels"] = {"team": "{{ name }}"}
    httpx.patch(
        f"{prefect_server.api_url}/work_pools/{project.pool}",
        json={"base_job_template": template, "concurrency_limit": 9},
    ).raise_for_status()

    drift = project.run("plan", "--env", "test", "--detailed-exitcode", "--output", "json")
    assert drift.returncode == 2, drift.stderr
    [row] = json.loads(drift.stdout)["pools"]["update"]
    assert row["name"] == project.pool
    assert row["changes"] == {
        "variables.working_dir": {"from": "/tmp/by-hand", "to": "/srv/flows"},
        "concurrency_limit": {"from": 9, "to": 4},
    }
    table = project.run("plan", "--env", "test")
    assert "Work pools" in table.stdout and "variables.working_dir" in table.stdout

    fixed = project.run("deploy", "--env", "test")
    assert fixed.returncode == 0, fixed.stderr
    pool, _ = _pool(prefect_server.api_url, project.pool)
    props = pool.base_job_template["variables"]["properties"]
    assert props["working_dir"]["default"] == "/srv/flows" and pool.concurrency_limit == 4
    assert props["command"]["default"] == "python -m custom"  # undeclared: kept
    assert pool.base_job_template["job_configuration"]["labels"] == {"team": "{{ name }}"}
    assert project.run("plan", "--env", "test", "--detailed-exitcode").returncode == 0
