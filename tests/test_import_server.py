"""`flowfleet import` against real Prefect servers: the imported fleet is the original one.

- A realistic prefect.yaml (tests/import_project/) is deployed by `prefect deploy
  --all` to one server; the same file is imported into a scratch workspace and the
  result deployed by `flowfleet deploy` to another. Both servers then hold the same
  deployments, field by field, except the one value the import reported.
- Deployments made with the blog post's `deploy()` pattern are imported from the
  server; afterwards `plan --adopt` shows nothing to change but the ownership labels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

from conftest import own_server
from import_workspace import ImportWorkspace

pytestmark = pytest.mark.server

POOLS = {
    "ecs-prod": "ecs",
    "process-prod": "process",
    "docker-prod": "docker",
    "k8s-prod": "kubernetes",
    "legacy-process": "process",
}


@pytest.fixture(scope="module")
def other_server(tmp_path_factory: pytest.TempPathFactory):
    """A second server: where `prefect deploy` writes."""
    with own_server(tmp_path_factory, "prefect-original") as server:
        yield server


@pytest.fixture(scope="module")
def import_server(tmp_path_factory: pytest.TempPathFactory):
    """Where `flowfleet deploy` writes the imported fleet: its unmanaged pools (as a team
    has them before flowfleet) must not meet the session server's managed ones."""
    with own_server(tmp_path_factory, "prefect-imported") as server:
        yield server


def create_pools(api_url: str, pools: dict[str, str]) -> None:
    """The work pools, with each worker's own base job template, as a team would have."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker
    from prefect_aws.workers.ecs_worker import ECSWorker
    from prefect_kubernetes.worker import KubernetesWorker

    templates = {
        "ecs": ECSWorker.get_default_base_job_template(),
        "process": ProcessWorker.get_default_base_job_template(),
        "kubernetes": KubernetesWorker.get_default_base_job_template(),
        # prefect-docker is not installed: the one variable its template must have here.
        "docker": {
            "job_configuration": {"image": "{{ image }}"},
            "variables": {"properties": {"image": {"type": "string"}}},
        },
    }

    async def create() -> None:
        async with PrefectClient(api=api_url) as client:
            for name, kind in pools.items():
                with contextlib.suppress(ObjectAlreadyExists):
                    await client.create_work_pool(
                        WorkPoolCreate(name=name, type=kind, base_job_template=templates[kind])
                    )

    asyncio.run(create())


def deployments(api_url: str) -> dict[str, dict[str, Any]]:
    """Every deployment on the server by `flow/name`, as the API returns it."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        flows = client.post("/flows/filter", json={"limit": 200}).json()
        rows = client.post("/deployments/filter", json={"limit": 200}).json()
    names = {f["id"]: f["name"] for f in flows}
    return {f"{names[r['flow_id']]}/{r['name']}": r for r in rows}


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    """The fields a user compares; an entrypoint as the module and function it names
    (`src/acme_flows/etl.py:load_orders` and `acme_flows.etl:load_orders` are one)."""
    path, _, function = row["entrypoint"].rpartition(":")
    module = path.removeprefix("src/").removesuffix(".py").replace("/", ".")
    limit = (row.get("global_concurrency_limit") or {}).get("limit")
    return {
        "schedules": sorted(
            json.dumps(
                {
                    k: s["schedule"].get(k)
                    for k in ("cron", "interval", "rrule", "timezone", "day_or")
                }
                | {"active": s["active"]},
                sort_keys=True,
            )
            for s in row["schedules"]
        ),
        "parameters": row["parameters"],
        "tags": sorted(row["tags"]),
        # Prefect 3.9.1's client writes a missing description as the string "None".
        "description": None if row["description"] == "None" else row["description"],
        "paused": row["paused"],
        "work_pool": row["work_pool_name"],
        "job_variables": row["job_variables"],
        "entrypoint": f"{module}:{function}",
        "concurrency_limit": limit,
    }


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_prefect_yaml_import_deploys_the_same_fleet(tmp_path, import_server, other_server):
    ws = ImportWorkspace(tmp_path / "ws", import_server.api_url)
    prefect_yaml = ws.add_acme_project()
    for server in (import_server, other_server):
        create_pools(server.api_url, POOLS)

    original = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=ws.member,
        env=ws.env(PREFECT_API_URL=other_server.api_url, REPORT_REGION="emea"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert original.returncode == 0, original.stdout[-3000:] + original.stderr[-3000:]

    before = ws.sources()
    dry = ws.run("import", "--from", str(prefect_yaml), "--env", "prod")
    assert ws.sources() == before, "a dry run changed files"
    assert "+@registry(" in dry.stdout
    imported = ws.run("import", "--from", str(prefect_yaml), "--env", "prod", "--write")
    assert imported.stdout == dry.stdout
    assert "imported: 12 deployments into 5 files" in imported.stderr
    # The one value a decorator cannot hold is reported, commented and left out.
    assert imported.returncode == 1
    [problem] = error_lines(imported.stderr)
    assert "daily-report/leadership" in problem and "parameters.region" in problem
    assert "REPORT_REGION" in problem
    reports = (ws.package / "reports.py").read_text()
    assert "# flowfleet import: parameters.region:" in reports

    validate = ws.run("validate", "--env", "prod")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    deploy = ws.run("deploy", "--env", "prod")
    assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]

    want = {k: comparable(v) for k, v in deployments(other_server.api_url).items()}
    got = {
        k: comparable(v)
        for k, v in deployments(import_server.api_url).items()
        if k in want or (v.get("labels") or {}).get("flowfleet.project") == "import-acme"
    }
    assert sorted(got) == sorted(want)
    assert len(want) == 12
    differences = {
        (name, key): (want[name][key], got[name][key])
        for name in want
        for key in want[name]
        if want[name][key] != got[name][key]
    }
    assert differences == {
        ("daily-report/leadership", "parameters"): (
            {"audience": "leadership", "region": "emea"},
            {"audience": "leadership"},
        )
    }
    # Spot checks of what the comparison covers.
    assert want["train-model/experiment"]["paused"] is True
    assert want["sync-crm/crm-us"]["work_pool"] == "legacy-process"
    assert want["acme-load-orders/full-refresh"]["job_variables"]["cpu"] == 2048

    again = ws.run("import", "--from", str(prefect_yaml), "--env", "prod", "--write")
    assert again.stdout == "" and "12 already declared" in again.stderr


BLOG_FLOWS = '''\
"""The blog post's flow, and a second one."""

import json
from pathlib import Path

from prefect import flow, task


@task
def load_data(data_path: str) -> list[dict]:
    return json.loads(Path(data_path).read_text())


@task
def save_data(data: list[dict], output_path: str):
    Path(output_path).write_text(json.dumps(data))


@flow(name="some-process-{uid}")
def some_process(data_path: str = "in.json", output_path: str = "out.json"):
    save_data([item for item in load_data(data_path) if item.get("active")], output_path)


@flow(name="cleanup-{uid}")
def cleanup(days: int = 7):
    """Remove outputs older than `days`.

    Runs nightly.
    """
'''

# The blog post's deploy.py: its DeploymentConfig and Registry, one `deploy()` per work
# pool with build=False and push=False. As the post suggests for code installed in an
# image, the entrypoints are module paths.
BLOG_DEPLOY = """\
from collections import defaultdict

from prefect import deploy
from prefect.deployments.runner import EntrypointType
from pydantic import BaseModel, Field

from blog_flows.jobs import cleanup, some_process

THIS_IMAGE = "ghcr.io/acme/blog-flows:2025.08"


class DeploymentConfig(BaseModel):
    name: str = Field(default="default")
    cron: str | None = Field(default=None)
    active: bool = Field(default=True)
    work_pool: str = Field(default="default")


class Registry:
    def __init__(self):
        self.deployments = []

    def __call__(self, config):
        def inner(fn):
            self.deployments.append((fn, config))
            return fn

        return inner


registry = Registry()
registry(DeploymentConfig(cron="0 9 * * *", work_pool="{docker}"))(some_process)
registry(DeploymentConfig(name="nightly", cron="0 1 * * *", work_pool="{docker}"))(cleanup)
registry(
    DeploymentConfig(name="paused", cron="0 10 * * *", active=False, work_pool="{ecs}")
)(cleanup)


def get_deployments():
    deployments = defaultdict(list)
    for flow, deployment in registry.deployments:
        runner_deployment = flow.to_deployment(
            name=deployment.name,
            work_pool_name=deployment.work_pool,
            paused=not deployment.active,
            cron=deployment.cron,
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        deployments[deployment.work_pool].append(runner_deployment)
    return deployments


if __name__ == "__main__":
    for work_pool, deployments in get_deployments().items():
        deploy(*deployments, work_pool_name=work_pool, image=THIS_IMAGE, build=False, push=False)
"""


def test_blog_pattern_deployments_round_trip_through_import_from_server(tmp_path, import_server):
    uid = uuid.uuid4().hex[:8]
    docker, ecs = f"blog-docker-{uid}", f"blog-ecs-{uid}"
    environment = f'default_infra = "worker"\n\n[pools]\nworker-docker = "{docker}"\n'
    ws = ImportWorkspace(
        tmp_path / "ws",
        import_server.api_url,
        team="blog",
        infra="worker",
        environment=environment,
    )
    ws.write("flows/blog/src/blog_flows/jobs.py", BLOG_FLOWS.replace("{uid}", uid))
    script = ws.write("deploy.py", BLOG_DEPLOY.replace("{docker}", docker).replace("{ecs}", ecs))
    create_pools(import_server.api_url, {docker: "docker", ecs: "ecs"})
    blog = subprocess.run(
        [sys.executable, str(script)],
        cwd=ws.root,
        env=ws.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert blog.returncode == 0, blog.stdout[-3000:] + blog.stderr[-3000:]
    names = {f"some-process-{uid}/default", f"cleanup-{uid}/nightly", f"cleanup-{uid}/paused"}
    assert names <= set(deployments(import_server.api_url))

    flows = f"*-{uid}"  # the session's server holds other tests' deployments too
    plan_before = ws.run("plan", "--env", "prod", "--adopt", "--output", "json")
    assert plan_before.returncode == 0, plan_before.stderr
    assert json.loads(plan_before.stdout)["create"] == []  # nothing declared yet

    imported = ws.run("import", "--from-server", "--env", "prod", "--flow", flows, "--write")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "imported: 3 deployments into 1 files" in imported.stderr
    jobs = (ws.package / "jobs.py").read_text()
    assert 'infra=Worker(kind="docker")' in jobs
    image = 'image="ghcr.io/acme/blog-flows:2025.08"'
    assert f'infra=EcsTask(),\n        {image},\n        work_pool="{ecs}"' in jobs
    assert "active=False" in jobs

    plan = ws.run("plan", "--env", "prod", "--adopt", "--output", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    result = json.loads(plan.stdout)
    assert result["create"] == [] and result["delete"] == []
    changes = {c["full_name"]: c["changes"] for c in result["update"] + result["unchanged"]}
    assert set(changes) == names
    for full_name, changed in changes.items():
        assert set(changed) == {"labels"}, (full_name, changed)
        assert changed["labels"]["from"] == {}
        assert changed["labels"]["to"]["flowfleet.managed"] == "true"

    # After the adopting deploy, the deployments are flowfleet's; a new import finds none.
    deploy = ws.run("deploy", "--env", "prod", "--adopt")
    assert deploy.returncode == 0, deploy.stdout[-2000:] + deploy.stderr[-2000:]
    again = ws.run("import", "--from-server", "--env", "prod", "--flow", flows)
    assert again.returncode == 0 and again.stdout == ""
    assert "3 already managed by this project skipped" in again.stderr
    assert deployments(import_server.api_url)[f"cleanup-{uid}/paused"]["paused"] is True
