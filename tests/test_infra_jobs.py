"""Every infra type, rendered by its worker's own job configuration, without a server.

A deployment is resolved from a real `DeploymentConfig` in a sandbox workspace, then
rendered with `flowfleet.infra.jobs.render_job` (prefect-aws's ECSJobConfiguration and
ECSWorker, prefect-kubernetes's KubernetesWorkerJobConfiguration, Prefect's process
worker, prefect-docker's DockerWorker). The assertions are what a cluster would get.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import kubernetes_validate
import pytest
from prefect.workers.process import ProcessWorker
from prefect_aws.workers import ecs_worker
from prefect_aws.workers.ecs_worker import ECSJobConfiguration, ECSWorker
from prefect_docker.worker import DockerWorker
from prefect_kubernetes.worker import KubernetesWorker
from pydantic import ValidationError

import flowfleet_kubernetes
from fleet_sandbox import Sandbox, flow_module
from flowfleet import EcsTask, Worker
from flowfleet.desired import DesiredDeployment
from flowfleet.infra.jobs import render_job
from flowfleet_kubernetes import KubernetesJob

PKG = "acme_flows"
KUBERNETES_VERSION = kubernetes_validate.latest_version()

ECS = """infra=EcsTask(
    cpu=2048,
    memory=8192,
    cluster="prod-flows",
    capacity_provider_strategy=[
        {"capacityProvider": "FARGATE_SPOT", "weight": 3},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    ],
    vpc_id="vpc-0abc",
    network_configuration={
        "subnets": ["subnet-a", "subnet-b"],
        "security_groups": ["sg-flows"],
        "assignPublicIp": "DISABLED",
    },
    execution_role_arn="arn:aws:iam::111111111111:role/flows-execution",
    task_role_arn="arn:aws:iam::111111111111:role/sales-task",
    configure_cloudwatch_logs=True,
    cloudwatch_logs_options={"awslogs-group": "/flows/sales"},
    cloudwatch_logs_prefix="sales",
    prefect_api_key_secret_arn="arn:aws:secretsmanager:eu-west-1:111111111111:secret:prefect",
    labels={"team": "sales"},
    env={"WAREHOUSE_TOKEN": "tok-very-secret", "MODE": "full"},
)"""

KUBERNETES = """infra={
    "type": "kubernetes",
    "namespace": "flows",
    "service_account_name": "sales-runner",
    "cpu_request": "500m",
    "cpu_limit": "1",
    "memory_request": "1Gi",
    "memory_limit": "2Gi",
    "finished_job_ttl": 3600,
    "backoff_limit": 2,
    "labels": {"team": "sales"},
    "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/sales"},
    "image_pull_policy": "Always",
    "env": {"DB_PASSWORD": "pw-very-secret"},
}"""


def _deployment(sb: Sandbox, config: str, env: str = "prod") -> DesiredDeployment:
    sb.register(flowfleet_kubernetes, "kubernetes")
    one_line = " ".join(config.split())  # flow_module dedents: keep the config on one line
    sb.package(PKG, {"report": flow_module(PKG, one_line)})
    resolution = sb.resolve(env)
    assert [str(p) for p in resolution.problems] == []
    [deployment] = resolution.deployments
    return deployment


def _render(sb: Sandbox, deployment: DesiredDeployment) -> dict[str, Any]:
    infra_type = sb.plugins.infra_types.types[deployment.infra]
    return render_job(deployment, infra_type, api_url="https://prefect.example/api")


def _validate(manifest: dict[str, Any]) -> None:
    """Valid against Kubernetes' schema; strictly so but for one quirk of the stock template.

    prefect-kubernetes 0.8.0's template puts the Job fields `parallelism` and
    `completions` in the pod spec, where the API server drops them with a warning.
    The strict check runs without exactly those two keys, so anything else unknown fails.
    """
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=False)
    pod_spec = manifest["spec"]["template"]["spec"]
    assert (pod_spec.get("parallelism"), pod_spec.get("completions")) == (1, 1)
    strict = copy.deepcopy(manifest)
    for key in ("parallelism", "completions"):
        del strict["spec"]["template"]["spec"][key]
    kubernetes_validate.validate(strict, KUBERNETES_VERSION, strict=True)


def _env(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in pairs}


def test_ecs_task_as_the_worker_builds_it(sandbox: Sandbox) -> None:
    deployment = _deployment(sandbox, ECS)
    rendered = _render(sandbox, deployment)
    assert rendered["worker"] == "prefect_aws.workers.ecs_worker.ECSWorker"
    task_definition = rendered["job"]["task_definition"]
    request = rendered["job"]["run_task_request"]

    assert (task_definition["cpu"], task_definition["memory"]) == ("2048", "8192")
    assert task_definition["executionRoleArn"] == "arn:aws:iam::111111111111:role/flows-execution"
    assert task_definition["networkMode"] == "awsvpc"
    [container] = task_definition["containerDefinitions"]
    assert container["image"] == deployment.image
    assert container["image"].startswith("registry.example/")
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-create-group": "true",
            "awslogs-group": "/flows/sales",
            "awslogs-region": container["logConfiguration"]["options"]["awslogs-region"],
            "awslogs-stream-prefix": "sales",
        },
    }
    # The API key comes from Secrets Manager, not from a plain environment variable.
    assert container["secrets"] == [
        {
            "name": "PREFECT_API_KEY",
            "valueFrom": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:prefect",
        }
    ]

    assert request["cluster"] == "prod-flows"
    assert "launchType" not in request  # a capacity provider strategy replaces it
    assert request["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    ]
    assert request["networkConfiguration"] == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-flows"],
            "assignPublicIp": "DISABLED",
        }
    }
    assert request["overrides"]["taskRoleArn"] == "arn:aws:iam::111111111111:role/sales-task"
    assert {"key": "team", "value": "sales"} in request["tags"]
    [override] = request["overrides"]["containerOverrides"]
    env = _env(override["environment"])
    assert env["MODE"] == "full"
    assert env["WAREHOUSE_TOKEN"] == "****"
    assert env["PREFECT_API_URL"] == "https://prefect.example/api"
    assert "PREFECT_API_KEY" not in env
    assert "tok-very-secret" not in repr(rendered)


def test_an_api_key_secret_declared_only_on_the_pool_renders(sandbox: Sandbox) -> None:
    """A declared pool (`[pools.ecs.variables]`) may hold the secret ARN, the job none:
    prefect-aws then drops the worker's PREFECT_API_KEY, which the render must supply."""
    from flowfleet.infra.templates import stock_template

    deployment = _deployment(sandbox, "infra=EcsTask(cpu=1024, memory=2048)")
    infra_type = sandbox.plugins.infra_types.types[deployment.infra]
    template = copy.deepcopy(stock_template(infra_type, deployment.pool_type))
    arn = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:prefect-api-key-prod"
    template["variables"]["properties"]["prefect_api_key_secret_arn"]["default"] = arn
    rendered = render_job(
        deployment, infra_type, api_url="https://p.example/api", template=template
    )
    [container] = rendered["job"]["task_definition"]["containerDefinitions"]
    assert container["secrets"] == [{"name": "PREFECT_API_KEY", "valueFrom": arn}]


def test_ecs_half_set_size_is_filled_by_the_worker(sandbox: Sandbox) -> None:
    """prefect-aws fills a missing memory with its own default: the reason for the check."""
    deployment = _deployment(sandbox, "infra=EcsTask(cpu=1024)")
    task_definition = _render(sandbox, deployment)["job"]["task_definition"]
    assert task_definition["cpu"] == "1024"
    assert task_definition["memory"] == str(ecs_worker.ECS_DEFAULT_MEMORY)


def test_kubernetes_job_manifest_as_the_worker_builds_it(sandbox: Sandbox) -> None:
    deployment = _deployment(sandbox, KUBERNETES)
    rendered = _render(sandbox, deployment)
    manifest = rendered["job"]["job_manifest"]
    _validate(manifest)

    assert manifest["kind"] == "Job"
    assert manifest["metadata"]["namespace"] == "flows"
    assert manifest["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/sales"
    }
    assert manifest["metadata"]["labels"]["team"] == "sales"
    spec = manifest["spec"]
    assert spec["ttlSecondsAfterFinished"] == 3600
    assert spec["backoffLimit"] == 2
    pod = spec["template"]
    assert pod["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("role/sales")
    assert pod["metadata"]["labels"]["team"] == "sales"
    assert pod["spec"]["serviceAccountName"] == "sales-runner"
    [container] = pod["spec"]["containers"]
    assert container["image"] == deployment.image
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    env = _env(container["env"])
    assert env["DB_PASSWORD"] == "****"
    assert env["PREFECT_API_URL"] == "https://prefect.example/api"
    assert "pw-very-secret" not in repr(rendered)


def test_kubernetes_minimal_manifest_is_valid(sandbox: Sandbox) -> None:
    deployment = _deployment(sandbox, 'infra="kubernetes"')
    manifest = _render(sandbox, deployment)["job"]["job_manifest"]
    _validate(manifest)
    assert manifest["metadata"]["namespace"] == "default"


def test_process_worker_command_and_environment(sandbox: Sandbox) -> None:
    config = 'infra=Worker(env={"MODE": "warm", "API_TOKEN": "t-very-secret"}, working_dir="/srv")'
    deployment = _deployment(sandbox, config)
    rendered = _render(sandbox, deployment)
    assert rendered["pool_type"] == "process"
    job = rendered["job"]
    assert job["command"].endswith("-m prefect.engine")
    assert job["working_dir"] == "/srv"
    assert job["env"]["MODE"] == "warm"
    assert job["env"]["API_TOKEN"] == "****"
    assert job["env"]["PREFECT__FLOW_RUN_ID"] == "00000000-0000-0000-0000-000000000000"
    assert job["env"]["PREFECT__DEPLOYMENT_NAME"] == deployment.name


def test_docker_worker_uses_prefect_dockers_template(sandbox: Sandbox) -> None:
    deployment = _deployment(sandbox, 'infra=Worker(kind="docker", env={"MODE": "warm"})')
    assert deployment.pool_type == "docker"
    rendered = _render(sandbox, deployment)
    assert rendered["worker"] == "prefect_docker.worker.DockerWorker"
    job = rendered["job"]
    assert job["image"] == deployment.image
    assert job["env"]["MODE"] == "warm"
    assert job["command"] == "prefect flow-run execute"


def test_laptop_mode_renders_a_process_job_for_any_type(sandbox: Sandbox) -> None:
    deployment = _deployment(sandbox, ECS, env="local")
    rendered = _render(sandbox, deployment)
    assert rendered["pool_type"] == "process"
    assert rendered["job"]["env"]["MODE"] == "full"


@pytest.mark.parametrize(
    ("infra_type", "worker"),
    [(EcsTask, ECSWorker), (KubernetesJob, KubernetesWorker), (Worker, ProcessWorker)],
)
def test_field_names_are_the_workers_variable_names(infra_type: type, worker: type) -> None:
    variables = set(worker.get_default_base_job_template()["variables"]["properties"])
    fields = set(infra_type.model_fields) - {"type", "kind"}
    assert fields <= variables, fields - variables


def test_docker_template_is_prefect_dockers() -> None:
    from flowfleet.infra.templates import worker_template

    assert worker_template("docker") == DockerWorker.get_default_base_job_template()


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        ({"network_configuration": {"subnets": ["subnet-a"]}}, "vpc_id"),
        ({"cloudwatch_logs_options": {"awslogs-group": "x"}}, "configure_cloudwatch_log"),
        ({"configure_cloudwatch_logs": True}, "execution_role_arn"),
    ],
)
def test_the_checked_rules_are_the_workers(variables: dict[str, Any], refusal: str) -> None:
    """What `validate` refuses, prefect-aws's own configuration refuses when a run starts."""
    from prefect.client.orchestration import PrefectClient

    from flowfleet.infra.templates import check_job

    assert check_job(EcsTask(), "ecs", variables), "validate lets it through"
    template = ECSWorker.get_default_base_job_template()
    client = PrefectClient(api="http://flowfleet-render.invalid/api")
    with pytest.raises(ValidationError, match=refusal):
        asyncio.run(
            ECSJobConfiguration.from_template_and_values(template, variables, client=client)
        )


@pytest.mark.cli
def test_render_command_prints_yaml_or_json_with_secrets_masked(tmp_path) -> None:
    import json
    import os

    import yaml

    from conftest import run_cli

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "home"),
        PREFECT_API_KEY="pnu_render_test_key_123",
        FLOWFLEET_BRANCH="main",
    )
    result = run_cli("render", "sales-etl/default", "--env", "prod", "--template", "stock", env=env)
    assert result.returncode == 0, result.stderr
    job = yaml.safe_load(result.stdout)
    assert (job["pool_type"], job["work_pool"]) == ("ecs", "ecs-prod")
    container = job["job"]["task_definition"]["containerDefinitions"][0]
    assert container["image"].startswith("ghcr.io/acme/sales-flows:")
    [override] = job["job"]["run_task_request"]["overrides"]["containerOverrides"]
    assert _env(override["environment"])["PREFECT_API_KEY"] == "****"
    assert "pnu_render_test_key_123" not in result.stdout + result.stderr

    # By default, prod.toml's declared [pools.ecs] settings: its cluster, and the API
    # key from its Secrets Manager ARN instead of a plain variable.
    declared = run_cli("render", "sales-etl/default", "--env", "prod", env=env)
    assert declared.returncode == 0, declared.stderr
    job = yaml.safe_load(declared.stdout)
    assert (job["template"], job["job"]["run_task_request"]["cluster"]) == (
        "declared",
        "flows-prod",
    )
    [container] = job["job"]["task_definition"]["containerDefinitions"]
    assert container["secrets"][0]["valueFrom"].endswith(":secret:prefect-api-key-prod")
    [override] = job["job"]["run_task_request"]["overrides"]["containerOverrides"]
    assert "PREFECT_API_KEY" not in _env(override["environment"])
    assert "pnu_render_test_key_123" not in declared.stdout + declared.stderr
    assert list(tmp_path.rglob("*.*")) == [], "render wrote files"  # Prefect makes home/

    as_json = run_cli(
        "render", "marketing-audience-scoring/default", "-e", "prod", "-o", "json", env=env
    )
    assert as_json.returncode == 0, as_json.stderr
    _validate(json.loads(as_json.stdout)["job"]["job_manifest"])

    missing = run_cli("render", "sales-etl/defualt", "--env", "prod", env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "error: no deployment 'sales-etl/defualt' in environment 'prod'; "
        "did you mean 'sales-etl/default'?"
    ]


def test_the_guides_two_account_example_renders_per_account(sandbox: Sandbox) -> None:
    """docs/guide.md's dev/prod ECS example, run as written: each account gets its own."""
    from conftest import ROOT

    guide = (ROOT / "docs" / "guide.md").read_text()
    example = "ACCOUNTS = {" + guide.split("ACCOUNTS = {", 1)[1].split("def etl(", 1)[0]
    header = "from prefect import flow\nfrom flowfleet import DeploymentConfig, EcsTask\n"
    module = f"{header}from {PKG} import registry\n\n{example}def etl(days: int = 1) -> None: ...\n"
    sandbox.package(PKG, {"etl": module})
    for env, account, subnets in (
        ("dev", "111111111111", ["subnet-0d1"]),
        ("prod", "222222222222", ["subnet-0p1", "subnet-0p2"]),
    ):
        resolution = sandbox.resolve(env)
        assert [str(p) for p in resolution.problems] == []
        [deployment] = resolution.deployments
        job = _render(sandbox, deployment)["job"]
        task_definition, request = job["task_definition"], job["run_task_request"]
        assert task_definition["executionRoleArn"].startswith(f"arn:aws:iam::{account}:")
        assert request["overrides"]["taskRoleArn"].startswith(f"arn:aws:iam::{account}:")
        assert request["cluster"] == f"flows-{env}"
        assert request["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == subnets
        [container] = task_definition["containerDefinitions"]
        assert container["logConfiguration"]["options"]["awslogs-group"] == f"/flows/{env}"
        assert container["secrets"][0]["valueFrom"].split(":")[4] == account
    assert (task_definition["cpu"], task_definition["memory"]) == ("1024", "4096")
    assert [p["capacityProvider"] for p in request["capacityProviderStrategy"]] == [
        "FARGATE",
        "FARGATE_SPOT",
    ]


@pytest.mark.server
def test_render_with_the_servers_pool_template(prefect_server, sandbox: Sandbox) -> None:
    """`--template server`: the pool as the server holds it, its references read as the
    worker reads them (a Prefect variable here), and its hand-made parts kept."""
    import uuid

    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.actions import VariableCreate, WorkPoolCreate

    from flowfleet.cli.render import read_pool_template

    uid = uuid.uuid4().hex[:8]
    pool, variable = f"ecs-render-{uid}", f"render_cluster_{uid}"
    template = ECSWorker.get_default_base_job_template()
    template["variables"]["properties"]["cluster"]["default"] = (
        "{{ prefect.variables." + variable + " }}"
    )
    [container] = template["job_configuration"]["task_definition"]["containerDefinitions"]
    container["ulimits"] = [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}]

    async def create() -> None:
        async with PrefectClient(api=prefect_server.api_url) as client:
            await client.create_variable(VariableCreate(name=variable, value="from-variable"))
            await client.create_work_pool(
                WorkPoolCreate(name=pool, type="ecs", base_job_template=template)
            )

    asyncio.run(create())
    deployment = _deployment(sandbox, f'infra=EcsTask(cpu=512, memory=1024), work_pool="{pool}"')
    held = asyncio.run(read_pool_template(prefect_server.api_url, pool))
    rendered = render_job(
        deployment,
        EcsTask,
        api_url=prefect_server.api_url,
        template=held,
        server=prefect_server.api_url,
    )
    assert rendered["template"] == "server"
    request = rendered["job"]["run_task_request"]
    assert request["cluster"] == "from-variable"
    [container] = rendered["job"]["task_definition"]["containerDefinitions"]
    assert container["ulimits"] == [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}]
    assert rendered["job"]["task_definition"]["memory"] == "1024"
