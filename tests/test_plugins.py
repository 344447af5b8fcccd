"""Throwaway plugins: a new infra type and a registry, registered and unregistered in `finally`."""

from __future__ import annotations

import importlib

import pytest

from fleet_sandbox import Sandbox, flow_module
from flowfleet import DeploymentConfig, EcsTask
from flowfleet.config import PendingInfra

# An infra-type plugin as DESIGN.md describes one, written as a real module so
# that flow modules can import `Batch` from it.
BATCH_PLUGIN = """\
from typing import Any, ClassVar, Literal

from pydantic import Field

from flowfleet import InfraConfig, hookimpl


class Batch(InfraConfig):
    type: Literal["batch"] = "batch"
    pool_type: ClassVar[str] = "process"
    uses_image: ClassVar[bool] = False

    queue: str
    vcpus: int = Field(default=1, gt=0)

    def job_variables(self) -> dict[str, Any]:
        return {"env": {"BATCH_QUEUE": self.queue, "BATCH_VCPUS": str(self.vcpus)}}


@hookimpl
def flowfleet_infra_types() -> list[type[InfraConfig]]:
    return [Batch]
"""

REGISTRY_PLUGIN = """\
from flowfleet import hookimpl

from acme_flows import registry


@hookimpl
def flowfleet_registries():
    return [registry]
"""


def batch_module(sandbox: Sandbox):
    sandbox.write("acme_batch.py", BATCH_PLUGIN)
    return importlib.import_module("acme_batch")


def test_infra_type_plugin_validates_through_the_union(sandbox: Sandbox) -> None:
    plugin = batch_module(sandbox)
    infra_types = sandbox.plugins.infra_types
    with pytest.raises(ValueError, match=r"unknown infra type 'batch' \(known: ecs, worker\)"):
        infra_types.validate({"type": "batch", "queue": "etl"})

    sandbox.register(plugin, "acme-batch")
    try:
        infra_types = sandbox.plugins.infra_types
        assert infra_types.names == ["batch", "ecs", "worker"]
        batch = infra_types.validate({"type": "batch", "queue": "etl", "vcpus": 4})
        assert type(batch) is plugin.Batch
        assert (batch.queue, batch.vcpus) == ("etl", 4)
        # The built-in types still validate through the rebuilt union.
        assert infra_types.validate({"type": "ecs", "cpu": 256, "memory": 512}) == EcsTask(
            cpu=256, memory=512
        )
        with pytest.raises(ValueError, match="greater than 0"):
            infra_types.validate({"type": "batch", "queue": "etl", "vcpus": 0})
        with pytest.raises(ValueError, match="queue"):
            infra_types.validate({"type": "batch"})
    finally:
        sandbox.plugins.unregister("acme-batch")

    # Unregistering rebuilds the union: the type is unknown again.
    assert sandbox.plugins.infra_types.names == ["ecs", "worker"]
    with pytest.raises(ValueError, match=r"unknown infra type 'batch' \(known: ecs, worker\)"):
        sandbox.plugins.infra_types.validate({"type": "batch", "queue": "etl"})


def test_plugin_infra_round_trips_through_model_dump(sandbox: Sandbox) -> None:
    plugin = batch_module(sandbox)
    config = DeploymentConfig(infra=plugin.Batch(queue="etl", vcpus=4))

    dumped = config.model_dump()
    assert dumped["infra"] == {"type": "batch", "queue": "etl", "vcpus": 4}
    assert config.model_dump(mode="json")["infra"] == dumped["infra"]

    # Read back without the plugin class: kept as pending data, every field intact.
    restored = DeploymentConfig.model_validate_json(config.model_dump_json())
    assert isinstance(restored.infra, PendingInfra)
    assert restored.infra.model_dump() == dumped["infra"]

    sandbox.register(plugin, "acme-batch")
    try:
        assert sandbox.plugins.infra_types.validate(restored.infra) == config.infra
    finally:
        sandbox.plugins.unregister("acme-batch")


def test_plugin_infra_type_lands_in_the_resolved_deployment(sandbox: Sandbox) -> None:
    plugin = batch_module(sandbox)
    module = flow_module(
        "acme_flows",
        'infra=Batch(queue="etl"), overrides={"dev": {"infra": {"vcpus": 8}}}',
    ).replace(
        "from acme_flows import registry",
        "from acme_batch import Batch\nfrom acme_flows import registry",
    )
    sandbox.package("acme_flows", {"report": module})
    sandbox.register(plugin, "acme-batch")
    try:
        [prod] = sandbox.resolve("prod").deployments
        assert (prod.infra, prod.pool_type, prod.work_pool, prod.image) == (
            "batch",
            "process",
            "batch-prod",
            None,
        )
        assert prod.job_variables == {"env": {"BATCH_QUEUE": "etl", "BATCH_VCPUS": "1"}}
        # A partial infra override merges into the plugin type's fields.
        [dev] = sandbox.resolve("dev").deployments
        assert dev.job_variables == {"env": {"BATCH_QUEUE": "etl", "BATCH_VCPUS": "8"}}
    finally:
        sandbox.plugins.unregister("acme-batch")

    problems = sandbox.problems("prod")
    assert any("unknown infra type 'batch' (known: ecs, worker)" in p for p in problems)


def test_registry_from_a_plugin_modules_hook(sandbox: Sandbox) -> None:
    sandbox.package(
        "acme_flows", {"report": flow_module("acme_flows", 'cron="0 9 * * *"')}, register=False
    )
    sandbox.write("acme_plugin.py", REGISTRY_PLUGIN)
    plugin = importlib.import_module("acme_plugin")
    assert sandbox.resolve().deployments == []

    sandbox.register(plugin, "acme-plugin")
    try:
        [deployment] = sandbox.resolve().deployments
        assert deployment.full_name == "acme-report/default"
        assert deployment.package == "acme-flows"
        assert deployment.entrypoint == "acme_flows.report:report"
        assert sandbox.plugins.contributions("acme-plugin") == ([], ["acme_flows"])
    finally:
        sandbox.plugins.unregister("acme-plugin")
    assert sandbox.resolve().deployments == []


def test_entry_point_plugins_are_discovered_with_their_distribution(sandbox: Sandbox) -> None:
    """`load_plugins` finds both kinds of plugin through a real (fake) installed distribution."""
    sandbox.write("acme_batch.py", BATCH_PLUGIN)
    module = flow_module("acme_flows", "").replace(
        "DeploymentConfig()", 'DeploymentConfig(infra={"type": "batch", "queue": "q"})'
    )
    sandbox.package("acme_flows", {"report": module}, register=False)
    sandbox.distribution("acme-batch", {"batch": "acme_batch"})
    sandbox.distribution("acme-flows", {"acme": "acme_flows:registry"})
    sandbox.load_entry_points()

    plugins = sandbox.plugins
    assert plugins.problems == []
    assert list(plugins.info) == ["flowfleet.infra.ecs", "flowfleet.infra.worker", "acme", "batch"]
    assert (plugins.info["batch"].distribution, plugins.info["batch"].version) == (
        "acme-batch",
        "0.1.0",
    )
    assert plugins.contributions("batch") == (["batch"], [])
    assert plugins.contributions("acme") == ([], ["acme_flows"])
    [deployment] = sandbox.resolve().deployments
    assert (deployment.package, deployment.infra) == ("acme-flows", "batch")
