"""The `kubernetes` infra-type plugin (packages/flowfleet-kubernetes), end to end.

- installed: `validate`, `list`, `plugins` and (against a real server) `pools` + `deploy`
  handle the prod-only kubernetes deployment of marketing-flows;
- removed, for real, from a throwaway venv: the deployment fails validation naming
  the missing type and the known ones;
- `flowfleet_adjust_deployment`: a throwaway policy plugin, registered then unregistered.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from prefect import flow
from pydantic import ValidationError

from conftest import ROOT, run_cli
from flowfleet import DeploymentConfig, Registry, hookimpl
from flowfleet.loader import Fleet
from flowfleet.plugins import load_plugins
from flowfleet.resolve import resolve
from flowfleet.session import Session
from flowfleet_kubernetes import KubernetesJob, parse_quantity

pytestmark = pytest.mark.workspace  # reads the workspace's own team packages

K8S_DEPLOYMENT = "marketing-audience-scoring/default"
EXPECTED_JOB_VARIABLES = {
    "namespace": "marketing",
    "service_account_name": "marketing-flows",
    "cpu_request": "500m",
    "cpu_limit": "2",
    "memory_request": "1Gi",
    "memory_limit": "4Gi",
    "image_pull_policy": "Always",
}


def _template_variables() -> set[str]:
    from prefect_kubernetes.worker import KubernetesWorker

    return set(KubernetesWorker.get_default_base_job_template()["variables"]["properties"])


# --- the infra type itself -------------------------------------------------------------


def test_every_field_is_a_variable_of_the_kubernetes_worker_template():
    fields = set(KubernetesJob.model_fields) - {"type"}
    assert fields <= _template_variables(), fields - _template_variables()
    assert {
        "cpu_request",
        "cpu_limit",
        "memory_request",
        "memory_limit",
        "namespace",
        "service_account_name",
        "image_pull_policy",
    } <= fields


def test_pool_settings_and_base_job_template():
    from prefect_kubernetes.worker import KubernetesWorker

    job = KubernetesJob()
    assert job.work_pool_type() == "kubernetes"
    assert job.needs_image() is True
    assert job.job_variables() == {}
    assert KubernetesJob.base_job_template() == KubernetesWorker.get_default_base_job_template()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", "0.5"),
        ("1", "1"),
        ("2.5", "2.5"),
        (".5", "0.5"),
        ("1k", "1000"),
        ("512Mi", str(512 * 1024**2)),
        ("2Gi", str(2 * 1024**3)),
        ("1G", "1000000000"),
        ("1e3", "1000"),
    ],
)
def test_parse_quantity(text, value):
    from decimal import Decimal

    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("good", ["250m", "1", "1.5", 2, 0.5])
def test_cpu_quantities_accepted(good):
    assert KubernetesJob(cpu_request=good).job_variables() == {"cpu_request": str(good)}


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [
        ("cpu_request", "lots", "'lots' is not a Kubernetes cpu quantity; use e.g. '500m'"),
        ("cpu_limit", "-1", "'-1' is not a Kubernetes cpu quantity"),
        ("cpu_limit", "1.5 cores", "'1.5 cores' is not a Kubernetes cpu quantity"),
        ("memory_limit", "2GB", "'2GB' is not a Kubernetes memory quantity; use e.g. '512Mi'"),
        ("memory_request", "1gi", "'1gi' is not a Kubernetes memory quantity"),
        ("memory_request", "", "'' is not a Kubernetes memory quantity"),
        ("memory_limit", "512m", "write '512Mi' (mebibytes)"),
        ("cpu_request", True, "expected a Kubernetes quantity"),
        ("namespace", "Marketing_Team", "not a Kubernetes namespace name"),
        ("service_account_name", "-sa", "not a Kubernetes service account name"),
        ("image_pull_policy", "Sometimes", "'IfNotPresent', 'Always' or 'Never'"),
    ],
)
def test_bad_values_rejected_with_a_clear_message(field, bad, message):
    with pytest.raises(ValidationError) as info:
        KubernetesJob(**{field: bad})
    assert message in str(info.value)
    assert info.value.errors()[0]["loc"] == (field,)


def test_request_above_limit_rejected():
    with pytest.raises(ValidationError, match="memory_request '8Gi' is above memory_limit '4Gi'"):
        KubernetesJob(memory_request="8Gi", memory_limit="4Gi")
    with pytest.raises(ValidationError, match="cpu_request '1500m' is above cpu_limit '1'"):
        KubernetesJob(cpu_request="1500m", cpu_limit="1")
    assert KubernetesJob(cpu_request="1000m", cpu_limit="1").cpu_limit == "1"


def test_garbage_quantity_in_a_dict_infra_is_a_validation_problem_naming_the_field():
    """A team writes the infra as a dict; resolve reports the bad quantity as one problem."""
    registry = Registry(package="kubetest-flows")

    @registry(DeploymentConfig(infra={"type": "kubernetes", "memory_limit": "4 gigs"}))
    @flow(name="kubetest-bad-memory")
    def bad_memory() -> None: ...

    session = Session()
    fleet = Fleet(load_plugins(entry_point_group=None), registries=[registry])
    fleet.plugins.register(__import__("flowfleet_kubernetes"), "kubernetes")
    resolution = resolve(
        fleet, session.facts(session.environment("prod"), None, fleet.loaded_packages)
    )
    assert resolution.deployments == []
    [problem] = resolution.problems
    assert problem.field == "infra.memory_limit"
    assert "'4 gigs' is not a Kubernetes memory quantity" in str(problem)
    assert "kubetest-bad-memory/default" in str(problem)


# --- the CLI, with the plugin installed -------------------------------------------------


@pytest.mark.cli
def test_validate_passes_with_the_plugin_installed(workspace_cli):
    result = workspace_cli("validate")
    assert result.returncode == 0, result.stderr
    assert "prod" in result.stdout


@pytest.mark.cli
def test_list_prod_json_has_the_kubernetes_deployment(workspace_cli):
    result = workspace_cli("list", "--env", "prod", "--output", "json")
    assert result.returncode == 0, result.stderr
    by_name = {d["full_name"]: d for d in json.loads(result.stdout)}
    k8s = by_name[K8S_DEPLOYMENT]
    assert k8s["infra"] == "kubernetes"
    assert k8s["work_pool"] == "kubernetes-prod"
    assert k8s["package"] == "marketing-flows"
    assert k8s["image"].startswith("ghcr.io/acme/marketing-flows:")
    assert k8s["job_variables"] == {**EXPECTED_JOB_VARIABLES, "image": k8s["image"]}
    assert set(k8s["job_variables"]) <= _template_variables()


@pytest.mark.cli
@pytest.mark.parametrize("env", ["dev", "local"])
def test_kubernetes_deployment_is_prod_only(workspace_cli, env):
    workspace_cli.start(*[("list", "--env", e, "--output", "json") for e in ("dev", "local")])
    result = workspace_cli("list", "--env", env, "--output", "json")
    assert result.returncode == 0, result.stderr
    names = {d["full_name"] for d in json.loads(result.stdout)}
    assert names, "the environment should hold other deployments"
    assert K8S_DEPLOYMENT not in names


@pytest.mark.cli
def test_plugins_command_shows_the_kubernetes_plugin(workspace_cli):
    result = workspace_cli("plugins")
    assert result.returncode == 0, result.stderr
    [row] = [line for line in result.stdout.splitlines() if "flowfleet-kubernetes" in line]
    cells = [c.strip() for c in row.strip("│┃ ").split("│")]
    assert cells == [
        "kubernetes",
        "flowfleet-kubernetes",
        version("flowfleet-kubernetes"),
        "kubernetes",
        "-",
    ]


def test_registries_hook_returns_the_registry_that_declares_the_kubernetes_deployment():
    plugins = load_plugins()
    results = plugins.hook.flowfleet_registries()
    registries = {r.package: r for result in results for r in result}
    marketing = registries["marketing_flows"].load()
    flows = {reg.flow.name: reg for reg in marketing.registrations}
    assert flows["marketing-audience-scoring"].config.infra.type == "kubernetes"


def test_infra_types_hook_includes_kubernetes_next_to_the_built_ins():
    plugins = load_plugins()
    contributed = {
        cls.model_fields["type"].default: cls
        for result in plugins.hook.flowfleet_infra_types()
        for cls in result
    }
    assert contributed["kubernetes"] is KubernetesJob
    assert {"ecs", "worker", "kubernetes"} <= set(contributed)
    plugins.unregister("kubernetes")
    assert "kubernetes" not in plugins.infra_types.names


# --- flowfleet_adjust_deployment: a throwaway organisation policy ----------------------


class CapDevMemory:
    """Tags every deployment; in dev, caps ECS tasks at 512 CPU / 1024 MiB, k8s limits at 1Gi.

    Both halves of the ECS size: a lone memory cap would leave Fargate pairs AWS rejects
    (1024 CPU with 1024 MiB), which `resolve` reports.
    """

    calls: list[tuple[str, str]]

    def __init__(self) -> None:
        self.calls = []

    @hookimpl
    def flowfleet_adjust_deployment(self, deployment, environment):
        self.calls.append((deployment.full_name, environment.name))
        deployment.tags = [*deployment.tags, "policy:org"]
        if environment.name != "dev":
            return
        jv = deployment.job_variables
        if "memory" in jv and jv["memory"] > 1024:
            deployment.job_variables = {**jv, "cpu": 512, "memory": 1024}
        if "memory_limit" in jv and parse_quantity(jv["memory_limit"]) > parse_quantity("1Gi"):
            deployment.job_variables = {**jv, "memory_limit": "1Gi"}


def _by_name(session: Session, env: str) -> dict:
    resolution = session.resolve(session.environment(env))
    assert resolution.problems == []
    return {d.full_name: d for d in resolution.deployments}


def test_adjust_deployment_policy_registered_then_unregistered():
    plugins = load_plugins()
    session = Session(plugins=plugins)
    before = {env: _by_name(session, env) for env in ("dev", "prod")}
    big_in_dev = [
        name for name, d in before["dev"].items() if d.job_variables.get("memory", 0) > 1024
    ]
    assert big_in_dev, "the demo fleet should have a dev ECS deployment above 1024 MiB"

    policy = CapDevMemory()
    plugins.register(policy, "org-policy")
    try:
        after = {env: _by_name(session, env) for env in ("dev", "prod")}
        assert {n for n, _ in policy.calls} == set(before["dev"]) | set(before["prod"])
        for env in ("dev", "prod"):
            for name, d in after[env].items():
                assert "policy:org" in d.tags
                # the edit is part of the spec, so plan would see it as a change
                assert d.labels["flowfleet.spec"] != before[env][name].labels["flowfleet.spec"]
        for name in big_in_dev:
            assert after["dev"][name].job_variables["memory"] == 1024
        # prod is not capped: the kubernetes deployment keeps its 4Gi limit
        assert after["prod"][K8S_DEPLOYMENT].job_variables["memory_limit"] == "4Gi"
    finally:
        plugins.unregister("org-policy")

    assert "org-policy" not in plugins.info
    again = _by_name(session, "dev")
    for name, d in again.items():
        assert "policy:org" not in d.tags
        assert d.labels["flowfleet.spec"] == before["dev"][name].labels["flowfleet.spec"]


# --- the plugin removed from the environment, for real ----------------------------------


@pytest.fixture(scope="module")
def venv_without_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throwaway venv with every workspace member except flowfleet-kubernetes.

    Installed from the lockfile (`uv export`), offline from uv's cache when it can:
    about 0.5 s with a warm cache. The shared venv is never touched.
    """
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the throwaway venv"
    folder = tmp_path_factory.mktemp("no-k8s")
    requirements = folder / "requirements.txt"
    python = folder / "venv" / "bin" / "python"
    started = time.perf_counter()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([uv, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)

    steps = [
        (
            "export",
            "--all-packages",
            "--no-dev",
            "--frozen",
            "--no-hashes",
            "--quiet",
            "--no-emit-package",
            "flowfleet-kubernetes",
            "--output-file",
            str(requirements),
        ),
        ("venv", "--quiet", "--python", sys.executable, str(folder / "venv")),
    ]
    for step in steps:
        done = run(*step)
        assert done.returncode == 0, done.stderr
    install = (
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--python",
        str(python),
        "-r",
        str(requirements),
    )
    done = run(*install, "--offline")
    if done.returncode != 0:  # a cold cache: fetch what is missing
        done = run(*install)
    assert done.returncode == 0, done.stderr
    print(f"\nvenv without flowfleet-kubernetes built in {time.perf_counter() - started:.1f}s")
    yield python


def _run_in(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    env["PREFECT_HOME"] = str(python.parent.parent / "prefect-home")
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(python), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.cli
def test_without_the_plugin_the_kubernetes_deployment_fails_validation(venv_without_plugin):
    python = venv_without_plugin
    probe = _run_in(
        python,
        "-c",
        "import importlib.util as u, importlib.metadata as m, json;"
        "print(json.dumps([u.find_spec('flowfleet_kubernetes') is None,"
        " sorted(d.name for d in m.distributions()),"
        " sorted(e.name for e in m.entry_points(group='flowfleet'))]))",
    )
    assert probe.returncode == 0, probe.stderr
    missing, dists, entry_points = json.loads(probe.stdout)
    assert missing, "flowfleet_kubernetes is still importable"
    assert "flowfleet-kubernetes" not in dists and "marketing-flows" in dists
    assert "kubernetes" not in entry_points and "marketing" in entry_points

    result = _run_in(python, "-m", "flowfleet", "validate")
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    [line] = errors
    assert "marketing-flows" in line and K8S_DEPLOYMENT in line
    assert "unknown infra type 'kubernetes' (known: ecs, worker)" in line
    assert "audiences.py" in line  # points at the declaration

    # environments that do not hold the deployment are unaffected
    dev = _run_in(python, "-m", "flowfleet", "validate", "--env", "dev")
    assert dev.returncode == 0, dev.stderr

    plugins = _run_in(python, "-m", "flowfleet", "plugins")
    assert plugins.returncode == 0, plugins.stderr
    assert "flowfleet-kubernetes" not in plugins.stdout
    assert "marketing-flows" in plugins.stdout


# --- pools + deploy against a real Prefect server ---------------------------------------


@pytest.mark.server
def test_pools_and_deploy_prod_create_the_kubernetes_pool_and_deployment(api_env):
    pools = run_cli("pools", "--env", "prod", env=api_env)
    assert pools.returncode == 0, pools.stdout + pools.stderr
    deploy = run_cli("deploy", "--env", "prod", env=api_env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr

    async def read() -> tuple:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            deployment = await client.read_deployment_by_name(K8S_DEPLOYMENT)
            pool = await client.read_work_pool(deployment.work_pool_name)
            return deployment, pool

    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_env["PREFECT_API_URL"]}):
        deployment, pool = asyncio.run(read())

    assert deployment.work_pool_name == "kubernetes-prod"
    assert pool.type == "kubernetes"
    assert set(pool.base_job_template["variables"]["properties"]) == _template_variables()
    assert {k: deployment.job_variables[k] for k in EXPECTED_JOB_VARIABLES} == (
        EXPECTED_JOB_VARIABLES
    )
    assert deployment.job_variables["image"].startswith("ghcr.io/acme/marketing-flows:")
    assert set(deployment.job_variables) <= _template_variables()
    assert "kubernetes" in deployment.tags
