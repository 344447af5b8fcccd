"""The pull-request comment section, pure: a synthetic plan built in-process, no server."""

from __future__ import annotations

import json
import re

from flowfleet import render_github
from flowfleet.apply import Outcome, Report
from flowfleet.desired import DesiredDeployment
from flowfleet.plan import Change, Plan


def synthetic(n: int, packages: int = 20) -> tuple[Plan, list[DesiredDeployment]]:
    """A fleet of `n` deployments over `packages` packages: a tenth changes, one conflicts."""
    plan = Plan(environment="prod", project="synthetic", api_url="http://prefect.example/api")
    desired = []
    for i in range(n):
        package = f"team{i % packages:02d}-flows"
        full_name = f"flow-{i:04d}-with-a-realistic-name/default"
        desired.append(
            DesiredDeployment(
                package=package,
                flow=full_name.split("/")[0],
                name="default",
                full_name=full_name,
                entrypoint=f"team_flows.mod{i}:run",
                work_pool="ecs-prod",
                pool_type="ecs",
                infra="ecs",
                image=f"ghcr.io/acme/{package}:{'b' * 12 if i % packages == 0 else 'a' * 12}",
            )
        )
        base = dict(full_name=full_name, package=package, work_pool="ecs-prod", storage="image")
        if i == 7:
            plan.conflicts.append(
                Change(action="conflict", reason="not managed by flowfleet", **base)
            )
        elif i % 3 == 0:
            image = {"from": {"image": "old"}, "to": {"image": "new"}}
            plan.update.append(Change(action="update", changes={"job_variables": image}, **base))
        else:
            plan.unchanged.append(Change(action="unchanged", **base))
    return plan, desired


def test_a_thousand_deployments_stay_under_the_comment_limit_and_say_how_many_changed():
    plan, desired = synthetic(1000)
    built = {"team00-flows"}
    prod = render_github.plan_section(plan, desired, built=built)
    dev = render_github.deploy_section(
        plan,
        Report(
            environment="dev",
            api_url=plan.api_url,
            outcomes=[Outcome(full_name=c.full_name, status="updated") for c in plan.update],
        ),
        desired,
        built=built,
    )
    assert len(prod) <= render_github.SECTION_BUDGET and len(dev) <= render_github.SECTION_BUDGET
    assert len(prod) + len(dev) + 2_000 < render_github.COMMENT_LIMIT
    assert "334 to update" in prod and "665 unchanged" in prod
    listed = [line for line in prod.splitlines() if line.startswith("| `flow-")]
    omitted = re.search(r"_(\d+) more changed deployment\(s\) not listed", prod)
    assert listed and omitted and len(listed) + int(omitted.group(1)) == 335
    # The conflict is loud and listed first, though the table is cut short.
    assert "> **conflict:** `flow-0007-with-a-realistic-name/default`" in prod
    assert "`ghcr.io/acme/team00-flows:bbbbbbbbbbbb` (rebuilt)" in prod
    assert "`ghcr.io/acme/team01-flows:aaaaaaaaaaaa` (reused)" in prod


def test_a_small_plan_lists_every_row_and_collapses_the_unchanged():
    plan, desired = synthetic(30, packages=3)
    text = render_github.plan_section(plan, desired)
    assert "more changed deployment(s) not listed" not in text
    for change in plan.update:
        assert f"| `{change.full_name}` | {change.package} | update |" in text
    assert "<details><summary>19 unchanged</summary>" in text
    # Without the build matrix the image status comes from the plan: tags that move are new.
    assert "`ghcr.io/acme/team00-flows:bbbbbbbbbbbb` (new tag)" in text
    assert "`ghcr.io/acme/team01-flows:aaaaaaaaaaaa` (same tag)" in text


def test_failures_come_first_and_the_verdict_says_so():
    plan, desired = synthetic(40, packages=2)
    failed = plan.update[-1].full_name
    report = Report(
        environment="dev",
        api_url=plan.api_url,
        outcomes=[
            Outcome(
                full_name=c.full_name,
                status="failed" if c.full_name == failed else "updated",
                details="422: bad job variable" if c.full_name == failed else "",
            )
            for c in plan.update
        ],
    )
    text = render_github.deploy_section(plan, report, desired)
    assert "❌ deploy failed for 1 deployment(s)" in text
    assert f"> **failed:** `{failed}`: 422: bad job variable" in text
    rows = [line for line in text.splitlines() if line.startswith("| `flow-")]
    assert rows[0].startswith(f"| `{failed}` |") and "❌ **failed**" in rows[0]


def test_the_build_matrix_names_the_rebuilt_packages():
    matrix = {"include": [{"package": "sales-flows", "tag": "abc"}]}
    assert render_github.built_packages(json.dumps(matrix)) == {"sales-flows"}
    assert render_github.built_packages(json.dumps({"include": []})) == set()
    assert render_github.built_packages("") is None
    assert render_github.built_packages("not json") is None
