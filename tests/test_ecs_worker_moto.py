"""A real prefect-aws ECS worker runs a flowfleet deployment against a local AWS API.

moto's server mode stands in for AWS on a free loopback port. The test creates a
cluster, a VPC, a subnet and a security group in it; an ECS work pool declared in
the environment file (cluster, VPC, subnets, and a template file holding prefect-aws's
own template) is created by `deploy`, with a flowfleet `EcsTask` deployment, on the
suite's real Prefect server. It starts `prefect worker start --type ecs`, creates a
flow run, and then asks moto what the worker did: a task definition registered with
the declared cpu, memory and image, and a task started in the declared cluster and
subnet.

moto facts (see DESIGN.md): FARGATE RunTask needs security groups and container-level
cpu and memory, which prefect-aws sets only for other launch types; so the pool's
template declares them on the container, as a pool template may. It also needs the
VPC's DNS hostnames enabled.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from prefect.client.orchestration import PrefectClient
from prefect_aws.workers.ecs_worker import ECSWorker

from deploy_fleet import DeployFleet
from flowfleet import EcsTask, engine
from flowfleet.devserver import free_port

pytestmark = pytest.mark.server

BIN = Path(sys.executable).parent
REGION = "us-east-1"


def _wait(what: str, check: Any, timeout: float, proc: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        try:
            result = check()
        except Exception:  # not up yet
            result = None
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _pool_template() -> dict[str, Any]:
    """prefect-aws's stock template, with the container sizes moto's RunTask needs."""
    template = ECSWorker.get_default_base_job_template()
    [container] = template["job_configuration"]["task_definition"]["containerDefinitions"]
    container.update(cpu="{{ cpu }}", memory="{{ memory }}")
    return template


def test_ecs_worker_starts_the_declared_task_in_moto(prefect_server, tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    aws_env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    moto = worker = None
    log = (tmp_path / "worker.log").open("w")
    try:
        moto = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        aws = {"endpoint_url": endpoint, "region_name": REGION}
        aws.update(aws_access_key_id="testing", aws_secret_access_key="testing")
        ecs, ec2 = boto3.client("ecs", **aws), boto3.client("ec2", **aws)
        _wait("moto", lambda: ecs.list_clusters() is not None, 60, moto)
        cluster = ecs.create_cluster(clusterName="flows-test")["cluster"]["clusterArn"]
        vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
        # moto 5.2.5's awsvpc RunTask answers 500 unless the VPC has DNS hostnames on
        # (its network interface then has no private DNS name); Fargate VPCs usually do.
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="flows", Description="flows", VpcId=vpc)
        security_group = group["GroupId"]

        fleet = DeployFleet(tmp_path / "ws", prefect_server.api_url)
        pool = f"ecs-{fleet.uid}"
        # The pool as code: the account settings on the pool, the template file for
        # what variables cannot say (container-level sizes); `deploy` creates it.
        envs = fleet.workspace.environments_dir
        (envs / "ecs-test.json").write_text(json.dumps(_pool_template()))
        (envs / "test.toml").write_text(
            f'api_url = "{prefect_server.api_url}"\ndefault_infra = "ecs"\n'
            f'image_registry = "registry.example"\n\n[pools.ecs]\nname = "{pool}"\n'
            'template = "ecs-test.json"\n[pools.ecs.variables]\n'
            f'launch_type = "FARGATE"\ncluster = "flows-test"\nvpc_id = "{vpc}"\n'
            f'network_configuration = {{ subnets = ["{subnet}"], '
            f'securityGroups = ["{security_group}"] }}\n'
        )
        fleet.add(
            "moto",
            image="registry.example/moto-flows:v1",
            infra=EcsTask(cpu=512, memory=2048),
        )
        planned, report = asyncio.run(engine.deploy(fleet.target(), client=fleet.client()))
        assert [p.action for p in planned.pools] == ["create"]
        assert [c.full_name for c in planned.create] == [f"{fleet.flow_name('moto')}/default"]
        assert report is not None and report.ok, report
        deployment = fleet.server_deployments()[f"{fleet.flow_name('moto')}/default"]
        assert deployment.work_pool_name == pool
        assert deployment.job_variables["cpu"] == 512

        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
        env.update(
            aws_env,
            PREFECT_API_URL=prefect_server.api_url,
            PREFECT_HOME=str(tmp_path / "prefect-home"),
            PREFECT_WORKER_QUERY_SECONDS="2",
            PREFECT_WORKER_PREFETCH_SECONDS="30",
        )
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--type", "ecs"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        async def create_run() -> str:
            async with PrefectClient(api=prefect_server.api_url) as client:
                run = await client.create_flow_run_from_deployment(deployment.id)
            return str(run.id)

        run_id = asyncio.run(create_run())

        def started() -> list[str]:
            return ecs.list_tasks(cluster="flows-test")["taskArns"]

        try:
            task_arns = _wait("a task in the cluster", started, 240, worker)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n{(tmp_path / 'worker.log').read_text()[-4000:]}"
            ) from None
        [task] = ecs.describe_tasks(cluster="flows-test", tasks=task_arns, include=["TAGS"])[
            "tasks"
        ]
        assert task["clusterArn"] == cluster
        assert task["launchType"] == "FARGATE"
        assert {"key": "prefect.io/flow-run-id", "value": run_id} in task["tags"]
        details = {d["name"]: d["value"] for a in task["attachments"] for d in a["details"]}
        assert details["subnetId"] == subnet

        definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])
        definition = definition["taskDefinition"]
        assert (definition["cpu"], definition["memory"]) == ("512", "2048")
        assert definition["requiresCompatibilities"] == ["FARGATE"]
        assert definition["networkMode"] == "awsvpc"
        [container] = definition["containerDefinitions"]
        assert container["image"] == "registry.example/moto-flows:v1"
        [override] = task["overrides"]["containerOverrides"]
        environment = {e["name"]: e["value"] for e in override.get("environment", [])}
        assert environment["PREFECT__FLOW_RUN_ID"] == run_id
        assert environment["PREFECT_API_URL"] == prefect_server.api_url
    finally:
        _stop(worker)
        _stop(moto)
        log.close()
