"""`plan` says what runs each deployment's code, against a real server (nothing written)."""

from __future__ import annotations

import json

from conftest import run_cli


def test_plan_says_a_worker_pool_runs_the_worker_image(api_env: dict[str, str]) -> None:
    env = {**api_env, "IMAGE_TAG": "v7"}
    pools = run_cli("pools", "--env", "dev", env=env)
    assert pools.returncode == 0, pools.stderr
    planned = run_cli("plan", "--env", "dev", "--output", "json", env=env)
    assert planned.returncode == 0, planned.stderr
    rows = {
        row["full_name"]: row
        for section in ("create", "update", "unchanged")
        for row in json.loads(planned.stdout)[section]
    }
    campaign = rows["marketing-campaign-sync/default"]
    assert campaign["storage"] == "image"  # unchanged key; `runs` says what that means
    assert campaign["runs"] == "worker image ghcr.io/acme/flowfleet-worker-worker-dev:v7"
    assert rows["sales-etl/default"]["runs"] == "image ghcr.io/acme/sales-flows:v7"
    table = run_cli("plan", "--env", "dev", env=env)
    assert "image: worker image ghcr.io/acme/flowfleet-worker-worker-dev:v7" in table.stdout
