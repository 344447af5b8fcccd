"""The pull-request comment for the example fleet, rendered against a real Prefect server.

One server of its own (no scheduler), so the pools this module starts without, and
the hand-made deployment it conflicts with, depend on no other test. Each scenario
is a real `flowfleet ... --output github` run, as the workflow runs it.

`FLOWFLEET_WRITE_EXAMPLE=1` also writes docs/pr-comment-example.md from these runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Iterator

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentUpdate

from conftest import ROOT, run_cli
from flowfleet.branches import deployment_name
from flowfleet.devserver import LocalServer, start_server
from sqlite_template import sqlite_template

pytestmark = pytest.mark.server

BUILT = {"include": [{"package": "sales-flows", "team": "sales"}]}  # `images changed`
BRANCH = "feat/sales-report"
EDITED = f"marketing-campaign-sync/{deployment_name('default', BRANCH)}"
SALES = f"sales-etl/{deployment_name('default', BRANCH)}"


def pr_comment_script():
    spec = importlib.util.spec_from_file_location("pr_comment", ROOT / "scripts" / "pr_comment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    started = start_server(
        tmp_path_factory.mktemp("pr-comment-server"),
        services=False,
        timeout=300,
        sqlite_template=sqlite_template(tmp_path_factory),
    )
    try:
        yield started
    finally:
        started.stop()


def client_call(api_url: str, work):
    async def go():
        async with PrefectClient(api=api_url) as client:
            return await work(client)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def runs(server: LocalServer, tmp_path_factory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every scenario in the order a pull request meets them.

    `main` is deployed to prod first, with an older sales image; the pull request's
    branch then deploys to dev as branch deployments (named apart from prod's).
    """
    home = tmp_path_factory.mktemp("prefect-home")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "GITHUB_", "IMAGE_TAG", "FLOWFLEET_"))
    }
    env.update(PREFECT_API_URL=server.api_url, PREFECT_HOME=str(home), FLOWFLEET_BRANCH=BRANCH)
    out: dict[str, subprocess.CompletedProcess[str]] = {}

    def cli(key: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        out[key] = run_cli(*args, env={**env, **extra})
        return out[key]

    # main, in prod: its sales image is an older build than this branch's.
    prod_pools = cli("prod-pools", "pools", "--env", "prod", FLOWFLEET_BRANCH="main")
    assert prod_pools.returncode == 0, prod_pools.stderr
    assert cli("prod-deploy", "deploy", "--env", "prod", FLOWFLEET_BRANCH="main").returncode == 0

    async def older_sales_image(client):
        for d in await client.read_deployments():
            image = (d.job_variables or {}).get("image", "")
            if "/sales-flows:" in image:
                jobs = {**d.job_variables, "image": image.rsplit(":", 1)[0] + ":main-old"}
                await client.update_deployment(d.id, DeploymentUpdate(job_variables=jobs))

    client_call(server.api_url, older_sales_image)

    # A blocker: dev's worker pool (not declared, so not created by deploy) does not exist.
    cli("blocked", "deploy", "--env", "dev", "--output", "github")
    assert cli("dev-pools", "pools", "--env", "dev").returncode == 0, out["dev-pools"].stderr

    # A conflict: someone made the branch's `sales-etl` deployment by hand.
    async def hand_made(client):
        flow_id = await client.create_flow_from_name("sales-etl")
        return await client.create_deployment(
            flow_id=flow_id, name=deployment_name("default", BRANCH), work_pool_name="ecs-dev"
        )

    manual = client_call(server.api_url, hand_made)
    cli("conflict", "deploy", "--env", "dev", "--output", "github")
    client_call(server.api_url, lambda client: client.delete_deployment(manual))

    # The branch's deploy: everything created; only sales was rebuilt by this run.
    built = json.dumps(BUILT)
    cli("deployed", "deploy", "--env", "dev", "--output", "github", FLOWFLEET_IMAGES_BUILT=built)
    cli("no-change", "plan", "--env", "dev", "--output", "github", "--detailed-exitcode")

    # One deployment edited in the UI: the next plan shows exactly that change.
    async def edit(client):
        found = await client.read_deployment_by_name(EDITED)
        await client.update_deployment(found.id, DeploymentUpdate(description="edited in the UI"))

    client_call(server.api_url, edit)
    cli("one-change", "plan", "--env", "dev", "--output", "github", "--detailed-exitcode")

    # The prod half of the comment: what merging would change, read-only.
    cli(
        "prod-plan",
        *("plan", "--env", "prod", "--branch", "main", "--output", "github"),
        FLOWFLEET_IMAGES_BUILT=built,
    )
    return out


def test_a_missing_pool_blocks_loudly_and_nothing_is_written(runs):
    result = runs["blocked"]
    assert result.returncode == 1
    text = result.stdout
    assert text.startswith("### `dev`: plan\n")
    assert "**⛔ blocked (1): `deploy` would write nothing" in text
    assert "> [!CAUTION]" in text
    # dev.toml declares its ECS pool: deploy would create it. The worker pool is a name only.
    assert "| `ecs-dev` | ecs | create |" in text
    assert "> **blocked:** work pool 'worker-dev' does not exist" in text
    assert f"| `{SALES}` | sales-flows | create |" in text
    assert "error: work pool 'worker-dev' does not exist" in result.stderr


def test_a_conflict_is_loud_and_blocks(runs):
    result = runs["conflict"]
    assert result.returncode == 1
    text = result.stdout
    assert (
        f"> **conflict:** `{SALES}`: a deployment with this name already exists "
        "and is not managed by flowfleet"
    ) in text
    assert f"| `{SALES}` | sales-flows | ⚠️ **conflict** |" in text
    assert "0 to update · 0 to delete · 0 unchanged · 1 conflicts" in text


def test_the_deploy_section_names_each_image_and_each_result(runs):
    result = runs["deployed"]
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("### `dev`: deploy\n")
    assert "**✅ deployed (" in text and " created)**" in text
    assert re.search(r"\| sales-flows \| `ghcr.io/acme/sales-flows:\w+` \(rebuilt\) \|", text)
    assert re.search(r"\| marketing-flows \| `ghcr.io/acme/marketing-flows:\w+` \(reused\)", text)
    assert f"| `{SALES}` | sales-flows | create | created | on `ecs-dev` |" in text
    assert "[!CAUTION]" not in text


def test_no_change(runs):
    result = runs["no-change"]
    assert result.returncode == 0, result.stderr
    assert "**✅ no changes**" in result.stdout
    assert "0 to create · 0 to update · 0 to delete" in result.stdout
    assert "| Deployment |" not in result.stdout  # no table of changes
    assert "unchanged</summary>" in result.stdout


def test_one_changed_deployment(runs):
    result = runs["one-change"]
    assert result.returncode == 2, result.stderr
    text = result.stdout
    assert "**📝 1 to update to apply**" in text
    [row] = [line for line in text.splitlines() if line.startswith("| `")]
    assert row.startswith(
        f"| `{EDITED}` | marketing-flows | update | description: `edited in the UI` → `"
    )


def test_the_prod_plan_shows_what_merging_changes_and_the_comment_fits(runs, tmp_path):
    prod = runs["prod-plan"]
    assert prod.returncode == 0, prod.stderr
    text = prod.stdout
    assert text.startswith("### `prod`: plan\n")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows and all("| sales-flows | update | job_variables.image:" in row for row in rows)
    moved = re.compile(
        r"job_variables\.image: `ghcr\.io/acme/sales-flows:main-old` → "
        r"`ghcr\.io/acme/sales-flows:[0-9a-f]+`"
    )
    assert all(moved.search(row) for row in rows), rows  # from the tag prod runs to the new
    assert "marketing-campaign-sync/default" not in "\n".join(rows)  # its image was reused
    files = []
    for name in ("deployed", "prod-plan"):
        files.append(tmp_path / f"{name}.md")
        files[-1].write_text(runs[name].stdout)
    body = pr_comment_script().body_from(files, None, None)
    assert len(body) < 65_536 and body.count("### `") == 2
    if os.environ.get("FLOWFLEET_WRITE_EXAMPLE") == "1":
        (ROOT / "docs" / "pr-comment-example.md").write_text(
            "<!-- Generated by `FLOWFLEET_WRITE_EXAMPLE=1 pytest "
            "tests/test_pr_comment_server.py`: real runs against a real Prefect server. -->\n"
            "# What a reviewer sees: the flowfleet pull-request comment\n\n"
            "The example fleet after the first push of a pull request (branch "
            f"`{BRANCH}`) that changed `flows/sales`: its image was rebuilt, the branch's "
            "deployments were created in `dev`, and merging would move prod's sales "
            "deployments to the new image. Below the line is the comment as posted by "
            "`scripts/pr_comment.py`.\n\n---\n\n" + body.split("\n", 1)[1] + "\n---\n\n"
            "## When something is wrong\n\n"
            "The same branch's dev section when someone had made a deployment of the same "
            "name by hand: flowfleet does not own it, so the deploy writes nothing and the "
            "comment says so first.\n\n" + runs["conflict"].stdout
        )


def test_a_package_that_fails_to_load_gets_a_problem_section(tmp_path):
    """No plan at all: the section says why, so the comment never shows stale news."""
    from test_cli import broken_workspace

    env = broken_workspace(tmp_path)
    result = run_cli("plan", "--env", "prod", "--output", "github", cwd=tmp_path, env=env)
    assert result.returncode == 1
    text = result.stdout
    assert text.startswith("### `prod`: plan\n")
    assert "**⛔ blocked: " in text and "problem(s) before planning" in text
    assert "> **problem:** acme-flows: importing acme_flows.bad raised RuntimeError" in text
