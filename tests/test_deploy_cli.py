"""The deploy commands as a user runs them, on the real workspace and a real server."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from prefect.client.orchestration import PrefectClient

from conftest import ROOT, run_cli
from flowfleet.devserver import free_port

pytestmark = pytest.mark.server


def read_back(api_url: str, full_name: str):
    async def read():
        async with PrefectClient(api=api_url) as client:
            return await client.read_deployment_by_name(full_name)

    return asyncio.run(read())


def test_pools_deploy_plan_round_trip(api_env, prefect_server):
    env = {**api_env, "IMAGE_TAG": "cli-test"}
    pools = run_cli("pools", "--env", "prod", env=env)
    assert pools.returncode == 0, pools.stderr
    assert "ecs-prod" in pools.stdout and "worker-prod" in pools.stdout

    deployed = run_cli("deploy", "--env", "prod", "--output", "json", env=env)
    assert deployed.returncode == 0, deployed.stderr
    assert "Traceback" not in deployed.stderr
    report = json.loads(deployed.stdout)
    results = {r["full_name"]: r["status"] for r in report["results"]}
    # `--concurrency auto`, the default: a server on this machine gets one writer.
    assert (report["writers"]["chosen"], report["writers"]["count"]) == ("auto", 1)
    assert {
        "sales-etl/default",
        "sales-etl/weekly-archive",
        "marketing-campaign-sync/default",
    } <= set(results)
    assert "marketing-attribution-experiment/dev-trial" not in results  # dev only

    # ECS job variables use prefect-aws's keys; the image is the package's own.
    sales = read_back(prefect_server.api_url, "sales-etl/default")
    assert sales.work_pool_name == "ecs-prod"
    assert sales.job_variables == {
        "cpu": 1024,
        "memory": 2048,
        "image": "ghcr.io/acme/sales-flows:cli-test",
    }
    assert sales.entrypoint == "sales_flows.etl:filter_active"
    assert sales.schedules[0].schedule.cron == "0 9 * * *"
    assert sales.schedules[0].schedule.timezone == "Europe/London"
    # The stateful worker runs on the process pool, with no image.
    sync = read_back(prefect_server.api_url, "marketing-campaign-sync/default")
    assert sync.work_pool_name == "worker-prod"
    assert "image" not in sync.job_variables
    assert sync.parameters["lookback_days"] == 3  # prod override

    plan = run_cli("plan", "--env", "prod", "--output", "json", "--detailed-exitcode", env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    data = json.loads(plan.stdout)
    assert {"create", "update", "unchanged", "delete"} <= set(data)
    assert data["create"] == data["update"] == data["delete"] == []
    assert all("full_name" in row for row in data["unchanged"])

    changed = {**env, "IMAGE_TAG": "cli-test-2"}
    plan = run_cli("plan", "--env", "prod", "--output", "json", "--detailed-exitcode", env=changed)
    assert plan.returncode == 2, plan.stderr
    update = {row["full_name"]: row for row in json.loads(plan.stdout)["update"]}
    assert (
        update["sales-etl/default"]["changes"]["job_variables"]["to"]["image"]
        == "ghcr.io/acme/sales-flows:cli-test-2"
    )
    assert "marketing-campaign-sync/default" not in update  # no image, nothing changed

    markdown = run_cli("plan", "--env", "prod", "--output", "markdown", env=changed)
    assert markdown.returncode == 0
    assert "| `sales-etl/default` | update |" in markdown.stdout


def test_unreachable_server_fails_with_one_clear_line(api_env):
    url = f"http://127.0.0.1:{free_port()}/api"
    result = run_cli(
        "deploy",
        "--env",
        "prod",
        env={**api_env, "PREFECT_API_URL": url, "PREFECT_CLIENT_MAX_RETRIES": "1"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot reach the Prefect API at {url}" in result.stderr


def test_make_deploy_without_env_says_so():
    result = subprocess.run(["make", "-s", "deploy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "set ENV" in result.stderr
