"""pluggy used as intended: hooks through the manager, pending hooks reported, plugins disabled.

Server-free: throwaway plugins registered in a sandbox and unregistered in `finally`.
"""

from __future__ import annotations

import pytest

from fleet_sandbox import GROUP, Sandbox, flow_module
from flowfleet import hookimpl
from flowfleet.cli import _options
from flowfleet.infra.worker import Worker
from flowfleet.observed import ObservedDeployment, ServerState
from flowfleet.plan import make_plan
from flowfleet.plugins import DISABLE_VAR, disabled_plugins, load_plugins
from test_pure_stages import server_json, want


class Misspelled:
    """A plugin whose hook name lacks its final `s`: pluggy calls it never."""

    @hookimpl
    def flowfleet_infra_type(self):
        return [Worker]


def test_a_misspelled_hookimpl_is_a_problem_naming_the_plugin_and_the_fix(
    sandbox: Sandbox,
) -> None:
    sandbox.register(Misspelled(), "typo-plugin")
    try:
        fleet = sandbox.fleet()
    finally:
        sandbox.plugins.unregister("typo-plugin")
    [problem] = fleet.problems
    assert "plugin 'typo-plugin' implements flowfleet_infra_type" in str(problem)
    assert "which is not a flowfleet hook" in str(problem)
    assert "rename flowfleet_infra_type to flowfleet_infra_types" in str(problem)
    assert "*" in fleet.failed_packages, "a plugin that is not what it seems blocks pruning"


def test_a_fleet_without_misspelled_hooks_has_no_pending_problem(sandbox: Sandbox) -> None:
    assert sandbox.plugins.pending() == []
    assert sandbox.fleet().problems == []


def test_the_environment_variable_disables_a_default_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DISABLE_VAR, " flowfleet.infra.worker , other")
    assert disabled_plugins() == ["flowfleet.infra.worker", "other"]
    plugins = load_plugins(entry_point_group=None)
    assert plugins.infra_types.names == ["ecs"]
    assert list(plugins.info) == ["flowfleet.infra.ecs"]
    assert plugins.disabled == {"flowfleet.infra.worker": "flowfleet"}


def test_the_cli_option_adds_to_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_VAR, "a")
    _options(disable_plugin=["b", "a"])
    assert disabled_plugins() == ["a", "b"]


def test_a_disabled_team_package_is_never_pruned(sandbox: Sandbox) -> None:
    sandbox.package(
        "acme_flows", {"report": flow_module("acme_flows", 'cron="0 9 * * *"')}, register=False
    )
    sandbox.distribution("acme-flows", {"acme": "acme_flows:registry"})
    sandbox.plugins = load_plugins(entry_point_group=GROUP, disabled=["acme"])
    fleet = sandbox.fleet()
    assert fleet.registries == []
    assert "acme-flows" in fleet.failed_packages
    kept = want("acme-report/default", package="acme-flows")
    observed = ObservedDeployment.from_json(server_json(kept), "acme-report")
    server = ServerState("http://x", deployments={kept.full_name: observed})
    plan = make_plan([], server, environment="prod", project="acme", prune=True)
    assert [c.full_name for c in plan.delete] == [kept.full_name]  # enabled, it would go
    plan = make_plan(
        [],
        server,
        environment="prod",
        project="acme",
        prune=True,
        failed_packages=fleet.failed_packages,
    )
    assert plan.delete == [] and plan.prune_refused is None  # disabled: left as it is


class Wrapper:
    """A hook wrapper around every adjust call, as pluggy runs wrappers."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    def flowfleet_adjust_deployment(self, deployment, environment):
        self.seen.append(deployment.full_name)
        return (yield)


class Tagger:
    @hookimpl
    def flowfleet_adjust_deployment(self, deployment, environment):
        deployment.tags = [*deployment.tags, f"env:{environment.name}"]


class Broken:
    @hookimpl
    def flowfleet_adjust_deployment(self, deployment):
        raise RuntimeError("policy store offline")


def test_hooks_run_through_pluggy_with_wrappers_and_a_raising_plugin_is_named(
    sandbox: Sandbox,
) -> None:
    sandbox.package("acme_flows", {"report": flow_module("acme_flows", 'cron="0 9 * * *"')})
    wrapper = Wrapper()
    sandbox.register(wrapper, "wrapper")
    sandbox.register(Tagger(), "tagger")
    try:
        [deployment] = sandbox.resolve().deployments
        assert deployment.tags == ["env:prod"]
        assert wrapper.seen == ["acme-report/default"], "the wrapper wrapped the call"
        sandbox.register(Broken(), "broken")
        try:
            [problem] = sandbox.problems()
        finally:
            sandbox.plugins.unregister("broken")
    finally:
        sandbox.plugins.unregister("tagger")
        sandbox.plugins.unregister("wrapper")
    assert "plugin 'broken' raised in flowfleet_adjust_deployment" in problem
    assert "RuntimeError: policy store offline" in problem


def test_contributions_are_asked_through_the_manager(sandbox: Sandbox) -> None:
    assert sandbox.plugins.contributions("flowfleet.infra.ecs") == (["ecs"], [])
    registry = sandbox.package("acme_flows", {})
    assert sandbox.plugins.contributions("acme_flows") == ([], ["acme_flows"])
    assert registry in sandbox.plugins.registries()


class Shelf:
    """A plugin that contributes no registry, or raises when asked for them."""

    def __init__(self, fail: bool):
        self.fail = fail

    @hookimpl
    def flowfleet_registries(self):
        if self.fail:
            raise RuntimeError("catalogue offline")
        return None


def test_registries_come_in_pluggys_order_and_a_raising_plugin_is_named(
    sandbox: Sandbox,
) -> None:
    """One pluggy call when nobody raises, one plugin at a time when somebody does: the same
    registries in the same order either way."""
    for name in ("alpha_flows", "beta_flows", "gamma_flows"):
        sandbox.package(name, {})
    sandbox.register(Shelf(fail=False), "empty-shelf")
    try:
        in_one_call = [r.package for r in sandbox.plugins.registries()]
        one_at_a_time = [
            registry.package
            for _, result in sandbox.plugins.call_each("flowfleet_registries")
            for registry in result or []
        ]
        assert in_one_call == one_at_a_time
        assert {"alpha_flows", "beta_flows", "gamma_flows"} <= set(in_one_call)
        sandbox.register(Shelf(fail=True), "shelf")
        try:
            after_a_raise = [r.package for r in sandbox.plugins.registries()]
            problems = [str(p) for p in sandbox.plugins.problems]
        finally:
            sandbox.plugins.unregister("shelf")
    finally:
        sandbox.plugins.unregister("empty-shelf")
    assert after_a_raise == in_one_call
    assert any("plugin 'shelf' raised in flowfleet_registries" in p for p in problems)
