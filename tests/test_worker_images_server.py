"""`plan` says what runs each deployment's code, against a real server (nothing written
but the pools). The server is this file's own: the example fleet's `prod` deployments,
written to the session server by other tests, would be conflicts for `dev` there."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import own_server, run_cli
from flowfleet.devserver import LocalServer


@pytest.fixture(scope="module")
def worker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with own_server(tmp_path_factory, "worker-images-server") as server:
        yield server


@pytest.mark.server
def test_plan_says_a_worker_pool_runs_the_worker_image(
    worker_server: LocalServer, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_API_URL=worker_server.api_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        FLOWFLEET_BRANCH="main",
        IMAGE_TAG="v7",
    )
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
