"""Environments sharing one server: name patterns, pure (no server); the summary line."""

from __future__ import annotations

import pytest
from rich.console import Console

from flowfleet import naming
from flowfleet.environments import Environment, load_environment
from flowfleet.plan import Change, Plan
from flowfleet.problems import FlowfleetError
from flowfleet.render import plan_markdown, plan_table


def env(name: str = "dev", **fields) -> Environment:
    return Environment(name=name, **fields)


def test_the_default_keeps_declared_names_and_a_pattern_names_per_environment() -> None:
    assert naming.server_name(env(), "default", "main") == "default"
    shared = {"deployment_name": "{name}-{env}"}
    assert naming.server_name(env("dev", **shared), "default", "main") == "default-dev"
    assert naming.server_name(env("prod", **shared), "default", "main") == "default-prod"
    by_branch = env("dev", deployment_name="{env}-{branch}-{name}")
    assert naming.server_name(by_branch, "etl", "Feature/X") == "dev-feature-x-etl"
    assert naming.server_name(by_branch, "etl", None) == "dev-main-etl", "default branch"


def test_a_branch_lane_suffix_comes_after_the_pattern() -> None:
    lanes = env("dev", deployment_name="{name}-{env}", branch_deployments=True)
    name = naming.server_name(lanes, "default", "feat/x")
    assert name.startswith("default-dev--feat-x-")


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("{name}-{stage}", "uses {stage}; known placeholders: {name}, {env}, {branch}"),
        ("{env}", "must contain {name}"),
    ],
)
def test_a_bad_pattern_names_the_file_line_and_the_placeholders(tmp_path, pattern, message):
    (tmp_path / "dev.toml").write_text(f'default_infra = "ecs"\ndeployment_name = "{pattern}"\n')
    with pytest.raises(FlowfleetError) as failure:
        load_environment(tmp_path, "dev")
    [problem] = failure.value.problems
    assert str(problem).startswith(f"{tmp_path / 'dev.toml'}:2: key 'deployment_name': ")
    assert message in str(problem)


def test_the_summary_line_counts_conflicts_and_blockers() -> None:
    plan = Plan(environment="prod", project="p", api_url="http://x/api")
    plan.create.append(Change(action="create", full_name="a/default"))
    plan.conflicts.append(Change(action="conflict", full_name="b/default", reason="taken"))
    plan.missing_pools["ecs-prod"] = "ecs"
    assert "1 to create, 0 to update, 0 unchanged, 0 to delete, 1 conflicts, 2 blockers" in (
        plan_markdown(plan)
    )
    console = Console(record=True, width=200)
    plan_table(plan, console)
    assert "1 conflicts, 2 blockers." in console.export_text()
