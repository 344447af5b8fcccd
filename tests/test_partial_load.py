"""Server-free: which package is broken, `--package` names, and undeclared deployments.

The real-server half (deploy, prune, the CLI's lines) is tests/test_partial_load_server.py.
"""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from fleet_sandbox import Sandbox, flow_module
from flowfleet import hookimpl, partial, scope
from flowfleet.desired import PACKAGE
from flowfleet.environments import environment_names, load_environment
from flowfleet.facts import Facts
from flowfleet.plan import make_plan
from flowfleet.problems import FlowfleetError, Problem
from flowfleet.render import plan_json, plan_markdown, plan_table
from flowfleet.render_github import plan_section
from flowfleet.resolve import resolve
from test_pure_stages import ENV, PROJECT, have, state, want


def split(sb: Sandbox) -> partial.PartialLoad:
    fleet = sb.fleet()
    environment = load_environment(sb.env_dir, "prod")
    known = environment_names(sb.env_dir)
    facts = Facts.gather(sb.workspace, environment, known, packages=fleet.loaded_packages)
    return partial.split(resolve(fleet, facts), fleet)


def team(sb: Sandbox, name: str, *configs: str, flow: str | None = None) -> None:
    """A package `<name>_flows` with one flow module per config."""
    package = f"{name}_flows"
    sb.package(
        package,
        {
            f"m{i}": flow_module(package, config, flow_name=f"{flow or name}-{i}")
            for i, config in enumerate(configs)
        },
    )


def test_a_problem_in_one_deployment_blocks_its_whole_package(sandbox: Sandbox) -> None:
    team(sandbox, "alpha", 'cron="0 1 * * *"', 'parameters={"nope": 1}')
    team(sandbox, "beta", 'cron="0 2 * * *"')
    loaded = split(sandbox)
    assert [d.full_name for d in loaded.desired] == ["beta-0/default"]
    [problem] = loaded.broken["alpha-flows"]
    assert problem.flow == "alpha-1/default" and problem.field == "parameters.nope"


def test_an_import_that_raises_breaks_its_package(sandbox: Sandbox) -> None:
    team(sandbox, "alpha", 'cron="0 1 * * *"')
    sandbox.write("alpha_flows/typo.py", flow_module("alpha_flows", 'timezon="UTC"', flow_name="t"))
    team(sandbox, "beta", 'cron="0 2 * * *"')
    loaded = split(sandbox)
    assert [d.package for d in loaded.desired] == ["beta-flows"]
    [problem] = loaded.broken["alpha-flows"]
    assert problem.package == "alpha-flows" and "timezon" in str(problem)


def test_a_name_two_packages_declare_blocks_both(sandbox: Sandbox) -> None:
    team(sandbox, "alpha", "", flow="shared")
    team(sandbox, "beta", "", flow="shared")
    team(sandbox, "gamma", "")
    loaded = split(sandbox)
    assert sorted(loaded.broken) == ["alpha-flows", "beta-flows"]
    assert [d.package for d in loaded.desired] == ["gamma-flows"]


class RaisingRegistries:
    @hookimpl
    def flowfleet_registries(self):
        raise RuntimeError("catalogue offline")


def test_a_problem_no_package_owns_stops_everything(sandbox: Sandbox) -> None:
    team(sandbox, "alpha", "")
    sandbox.register(RaisingRegistries(), "catalogue")  # it may be any package's registry
    with pytest.raises(FlowfleetError) as stopped:
        split(sandbox)
    assert "catalogue offline" in str(stopped.value)


def test_scoped_keeps_only_the_chosen_packages(sandbox: Sandbox) -> None:
    team(sandbox, "alpha", 'parameters={"nope": 1}')
    team(sandbox, "beta", "")
    loaded = split(sandbox)
    assert loaded.scoped(None) is loaded
    only_beta = loaded.scoped({"beta-flows"})
    assert ([d.package for d in only_beta.desired], only_beta.broken) == (["beta-flows"], {})
    assert list(loaded.scoped({"alpha-flows"}).broken) == ["alpha-flows"]


def test_package_names_accept_label_module_and_entry_point(sandbox: Sandbox) -> None:
    team(sandbox, "alpha", "")
    team(sandbox, "beta", "")
    plugins = sandbox.plugins
    assert scope.chosen(plugins, []) is None
    # the sandbox registers a registry under its module's name: the entry point's place
    assert scope.chosen(plugins, ["alpha-flows", "beta_flows"]) == {"alpha-flows", "beta-flows"}
    with pytest.raises(FlowfleetError) as unknown:
        scope.chosen(plugins, ["alpha-flow", "zzz"])
    assert [str(p) for p in unknown.value.problems] == [
        "unknown package 'alpha-flow' for --package: did you mean 'alpha-flows'? "
        "(known: alpha-flows, beta-flows)",
        "unknown package 'zzz' for --package: (known: alpha-flows, beta-flows)",
    ]


def test_list_and_validate_narrow_to_the_chosen_packages(sandbox: Sandbox) -> None:
    team(sandbox, "alpha", 'parameters={"nope": 1}')
    team(sandbox, "beta", "")
    resolution = sandbox.resolve()
    resolution.problems.append(Problem("an environment file's problem"))
    beta = scope.narrowed(resolution, frozenset({"beta-flows"}), sandbox.plugins)
    assert [d.package for d in beta.deployments] == ["beta-flows"]
    assert [p.message for p in beta.problems] == ["an environment file's problem"]
    alpha = scope.narrowed(resolution, frozenset({"alpha-flows"}), sandbox.plugins)
    assert [p.package for p in alpha.problems] == ["alpha-flows", None]
    assert scope.narrowed(resolution, None, sandbox.plugins) is resolution


A, B = want("etl/a"), want("etl/b")
OTHER = want("other/x", package="other-flows", labels={**A.labels, PACKAGE: "other-flows"})


def kept(plan) -> list[str]:
    return [c.full_name for c in plan.not_declared]


def test_undeclared_deployments_are_listed_as_kept_without_prune() -> None:
    server = state(have(A), have(B), have(OTHER))
    plan = make_plan([A], server, environment=ENV, project=PROJECT)
    assert (kept(plan), plan.delete, plan.has_changes) == (["etl/b", "other/x"], [], False)
    assert plan.not_declared[0].reason == "not declared (kept; `--prune` deletes it)"
    pruned = make_plan([A], server, environment=ENV, project=PROJECT, prune=True)
    assert ([c.full_name for c in pruned.delete], kept(pruned)) == (["etl/b", "other/x"], [])


def test_a_failed_package_is_neither_pruned_nor_listed() -> None:
    server = state(have(A), have(B), have(OTHER))
    options = dict(environment=ENV, project=PROJECT, failed_packages={"acme-flows"})
    plan = make_plan([], server, prune=True, **options)
    assert ([c.full_name for c in plan.delete], plan.prune_refused) == (["other/x"], None)
    assert kept(make_plan([], server, **options)) == ["other/x"]
    unknown = make_plan([], server, environment=ENV, project=PROJECT, failed_packages={"*"})
    assert kept(unknown) == []  # any package could have failed: none is called undeclared


def test_scope_narrows_what_is_undeclared() -> None:
    server = state(have(A), have(B), have(OTHER))
    only_other = lambda observed: observed.package == "other-flows"  # noqa: E731
    plan = make_plan([], server, environment=ENV, project=PROJECT, prune_scope=only_other)
    assert kept(plan) == ["other/x"]


def test_failed_afresh_leaves_a_package_alone(sandbox: Sandbox) -> None:
    team(sandbox, "alpha", "")
    fleet = sandbox.fleet()
    fleet.failed_packages.add("acme-flows")
    fleet.problems.append(Problem("raised", package="acme-flows"))
    desired, broken = partial.failed_afresh([A, OTHER], {}, fleet)
    assert ([d.full_name for d in desired], list(broken)) == (["other/x"], ["acme-flows"])
    assert [p.message for p in broken["acme-flows"]] == ["raised"]


def test_every_output_shows_broken_packages_first_and_undeclared_rows() -> None:
    plan = make_plan([A], state(have(A), have(B)), environment=ENV, project=PROJECT)
    plan.broken = {"beta-flows": ["beta-flows: importing beta_flows.m raised ValueError: x"]}
    data = plan_json(plan)
    assert list(data)[:9] == [
        "environment",
        "project",
        "api_url",
        "create",
        "update",
        "unchanged",
        "delete",
        "conflicts",
        "blockers",
    ]
    assert data["not_declared"] == [
        {
            "full_name": "etl/b",
            "package": "acme-flows",
            "work_pool": "ecs-prod",
            "deployment_id": "id-etl/b",
            "reason": "not declared (kept; `--prune` deletes it)",
        }
    ]
    assert data["broken_packages"] == [
        {"package": "beta-flows", "problems": plan.broken["beta-flows"]}
    ]
    json.dumps(data)

    console = Console(width=200, record=True)
    plan_table(plan, console)
    text = console.export_text()
    assert text.startswith("not loaded, left as it is: beta-flows: importing")
    assert "etl/b" in text and "kept" in text
    assert "1 not declared (kept), 1 package(s) not loaded (beta-flows)." in text

    markdown = plan_markdown(plan)
    assert "> **not loaded, left as it is:** beta-flows: importing" in markdown
    assert "| `etl/b` | kept |" in markdown

    github = plan_section(plan)
    assert "❌ 1 package(s) did not load; nothing to apply for the rest" in github
    assert "> **not loaded, left as it is:** beta-flows" in github
    assert "1 not declared (kept; `--prune` deletes it): `etl/b`" in github


def test_the_closing_line_names_the_packages() -> None:
    assert partial.summary({"b-flows": [], "a-flows": []}, "deploy").startswith(
        "2 package(s) did not load and were not deployed: a-flows, b-flows; their "
        "deployments on the server are left exactly as they are"
    )
