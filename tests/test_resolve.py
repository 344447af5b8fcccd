"""Resolution semantics: overrides, the single-pool local environment, module-path entrypoints."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest

from conftest import ROOT
from fleet_sandbox import Sandbox, flow_module
from flowfleet import DeploymentConfig, EcsTask, Worker
from flowfleet.config import PendingInfra
from flowfleet.environments import environment_names, load_environment
from flowfleet.facts import Facts
from flowfleet.loader import load_fleet
from flowfleet.plugins import load_plugins
from flowfleet.resolve import Resolution, resolve
from flowfleet.workspace import Workspace

pytestmark = pytest.mark.workspace  # reads the workspace's own team packages

BASE = DeploymentConfig(
    cron="0 9 * * *",
    timezone="Europe/London",
    parameters={"a": 1, "b": 2},
    job_variables={"env": {"X": "1"}, "cluster": "main"},
    infra=EcsTask(cpu=1024, memory=2048, cluster="etl"),
    tags=["sales"],
)


def test_override_merges_parameters_and_job_variables_key_by_key() -> None:
    merged = BASE.with_override(
        {"parameters": {"b": 3, "c": 4}, "job_variables": {"cluster": "dev"}}
    )
    assert merged.parameters == {"a": 1, "b": 3, "c": 4}
    assert merged.job_variables == {"env": {"X": "1"}, "cluster": "dev"}
    assert BASE.parameters == {"a": 1, "b": 2}, "the base config is left alone"


def test_override_replaces_the_whole_schedule() -> None:
    interval = BASE.with_override({"interval": 600})
    assert (interval.cron, interval.interval) == (None, timedelta(seconds=600))
    assert interval.timezone == "Europe/London"
    unscheduled = BASE.with_override({"cron": None})
    assert unscheduled.schedule_fields() == {}


def test_override_replaces_other_fields() -> None:
    merged = BASE.with_override({"tags": ["other"], "active": False, "name": "renamed"})
    assert (merged.tags, merged.active, merged.name) == (["other"], False, "renamed")
    assert merged.overrides == {}


def test_partial_infra_override_merges_into_the_current_infra() -> None:
    infra = BASE.with_override({"infra": {"memory": 4096}}).infra
    assert isinstance(infra, PendingInfra)
    resolved = load_plugins(entry_point_group=None).infra_types.validate(infra)
    assert resolved == EcsTask(cpu=1024, memory=4096, cluster="etl")


def test_infra_override_with_a_type_replaces_the_infra() -> None:
    infra = BASE.with_override({"infra": {"type": "worker"}}).infra
    resolved = load_plugins(entry_point_group=None).infra_types.validate(infra)
    assert resolved == Worker()


def test_overrides_apply_per_environment(sandbox: Sandbox) -> None:
    config = (
        'cron="0 9 * * *", parameters={"audience": "team"}, '
        "infra=EcsTask(cpu=512, memory=1024), overrides={"
        '"dev": {"active": False, "interval": 300, "infra": {"memory": 4096}}, '
        '"prod": {"parameters": {"audience": "board"}}}'
    )
    sandbox.package("acme_flows", {"report": flow_module("acme_flows", config)})
    [dev] = sandbox.resolve("dev").deployments
    [prod] = sandbox.resolve("prod").deployments

    assert dev.paused and dev.labels["flowfleet.active"] == "false"
    assert [s.compact() for s in dev.schedules] == [{"interval": 300.0, "timezone": "UTC"}]
    assert (dev.job_variables["cpu"], dev.job_variables["memory"]) == (512, 4096)
    assert dev.parameters == {"audience": "team"}

    assert not prod.paused and prod.labels["flowfleet.active"] == "true"
    assert [s.cron for s in prod.schedules] == ["0 9 * * *"]
    assert prod.parameters == {"audience": "board"}
    assert prod.labels["flowfleet.spec"] != dev.labels["flowfleet.spec"]


def test_partial_infra_override_merges_into_the_default_infra_type(sandbox: Sandbox) -> None:
    config = 'overrides={"dev": {"infra": {"cpu": 512, "memory": 4096}}}'
    sandbox.package("acme_flows", {"report": flow_module("acme_flows", config)})
    [dev] = sandbox.resolve("dev").deployments  # the sandbox's dev defaults to ecs
    assert (dev.infra, dev.job_variables["cpu"], dev.job_variables["memory"]) == ("ecs", 512, 4096)
    [local] = sandbox.resolve("local").deployments
    assert local.infra == "worker"


def test_single_pool_wins_over_a_deployments_work_pool(sandbox: Sandbox) -> None:
    config = 'work_pool="gpu-pool", infra=EcsTask(cpu=256, memory=512, env={"MODE": "x"})'
    sandbox.package("acme_flows", {"report": flow_module("acme_flows", config)})
    [local] = sandbox.resolve("local").deployments
    assert (local.work_pool, local.pool_type, local.image) == ("local", "process", None)
    assert local.job_variables == {"env": {"MODE": "x"}}
    [prod] = sandbox.resolve("prod").deployments
    assert prod.work_pool == "gpu-pool"


# --- the real workspace, resolved in-process (no server) -------------------------------


@pytest.fixture(scope="module")
def real() -> dict[str, Resolution]:
    workspace = Workspace.find(ROOT)
    fleet = load_fleet(load_plugins())
    folder = workspace.environments_dir
    known = environment_names(folder)
    return {
        env: resolve(
            fleet,
            Facts.gather(
                workspace, load_environment(folder, env), known, packages=fleet.loaded_packages
            ),
        )
        for env in ("local", "dev")
    }


def test_real_workspace_resolves_without_problems(real: dict[str, Resolution]) -> None:
    for resolution in real.values():
        assert [str(p) for p in resolution.problems] == []
        packages = {d.package for d in resolution.deployments}
        assert {"sales-flows", "marketing-flows"} <= packages


def test_local_runs_everything_on_one_process_pool(real: dict[str, Resolution]) -> None:
    local = real["local"].deployments
    assert {d.infra for d in local} >= {"ecs", "worker"}, "several infra types, one pool"
    for d in local:
        assert (d.work_pool, d.pool_type, d.image) == ("local", "process", None), d.full_name
        assert "image" not in d.job_variables and "cpu" not in d.job_variables


def test_entrypoints_are_module_paths_that_load(real: dict[str, Resolution]) -> None:
    by_name = {d.full_name: d for d in real["dev"].deployments}
    assert by_name["sales-etl/default"].entrypoint == "sales_flows.etl:filter_active"
    for d in real["dev"].deployments:
        module, _, function = d.entrypoint.partition(":")
        assert "/" not in module and not module.endswith(".py"), d.entrypoint
        flow = getattr(importlib.import_module(module), function)
        assert flow.name == d.flow


def test_dev_pauses_campaign_sync_and_keeps_the_dev_only_trial(
    real: dict[str, Resolution],
) -> None:
    by_name = {d.full_name: d for d in real["dev"].deployments}
    assert by_name["marketing-campaign-sync/default"].paused
    assert "marketing-attribution-experiment/dev-trial" in by_name
    assert by_name["marketing-campaign-sync/default"].parameters["lookback_days"] == 1


def test_the_parameter_schema_is_the_one_prefect_computes_for_the_flow(sandbox: Sandbox) -> None:
    """flowfleet reuses `Flow.parameters` (computed at decoration) instead of computing
    the schema again; what it sends must stay what Prefect's own deploy would send."""
    from prefect.utilities.callables import parameter_schema

    signature = 'region: str, days: int = 7, dry_run: bool = False, tags: list[str] = ["a"]'
    config = 'cron="0 9 * * *", parameters={"region": "eu"}'
    sandbox.package("acme_flows", {"report": flow_module("acme_flows", config, signature)})
    [deployment] = sandbox.resolve().deployments
    schema = deployment.flow_parameter_schema()
    assert schema == parameter_schema(deployment._flow).model_dump()
    assert schema["required"] == ["region"]
    assert schema["properties"]["days"]["default"] == 7
