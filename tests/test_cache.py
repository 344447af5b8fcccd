"""The resolution cache: a hit skips the import and resolves the same; keys track files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT
from flowfleet.cache import ResolveCache
from flowfleet.environments import load_environment
from flowfleet.resolve import Resolution
from flowfleet.workspace import Workspace

pytestmark = pytest.mark.workspace  # reads the workspace's own team packages

RESOLVE = """
import json, sys
from flowfleet.session import Session
session = Session()
resolution = session.resolve(session.environment("prod"), "main", cached=True)
print(json.dumps({
    "prefect_imported": "prefect" in sys.modules,
    "problems": [str(p) for p in resolution.problems],
    "imported": sorted(session.fleet.loaded_packages),
    "listing": [d.listing() for d in resolution.deployments],
}))
"""


def resolve_in_subprocess(cache_dir: Path) -> dict:
    env = {**os.environ, "FLOWFLEET_CACHE_DIR": str(cache_dir), "IMAGE_TAG": "cache-test"}
    env.pop("FLOWFLEET_NO_CACHE", None)
    result = subprocess.run(
        [sys.executable, "-c", RESOLVE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def test_a_hit_gives_the_same_deployments_without_importing_prefect(tmp_path):
    cold = resolve_in_subprocess(tmp_path)
    assert cold["problems"] == []
    assert cold["prefect_imported"] is True  # the flows had to be imported
    # One file per team package, whichever teams the workspace holds (a new team adds one).
    assert {"sales-flows", "marketing-flows"} <= set(cold["imported"])
    files = {p.name for p in (tmp_path / "resolve" / "prod").iterdir()}
    assert files == {f"{package}.json" for package in cold["imported"]}

    warm = resolve_in_subprocess(tmp_path)
    assert warm["imported"] == []
    assert warm["prefect_imported"] is False
    assert warm["listing"] == cold["listing"]
    assert {d["full_name"] for d in warm["listing"]} >= {
        "sales-etl/default",
        "marketing-campaign-sync/default",
    }


def copy_workspace(target: Path) -> Workspace:
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, target / name)
    for folder in ("flows", "packages", "infra"):
        shutil.copytree(
            ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return Workspace(target, "copy")


def keys(workspace: Workspace, env: str = "prod", branch: str = "main") -> dict[str, str | None]:
    environment = load_environment(workspace.environments_dir, env)
    cache = ResolveCache(workspace, environment, branch, {"flowfleet": "0.1.0"})
    return {p: cache.key(p) for p in ("sales-flows", "marketing-flows")}


def test_keys_change_with_the_package_its_dependencies_and_the_environment(tmp_path):
    workspace = copy_workspace(tmp_path)
    before = keys(workspace)
    assert keys(workspace) == before  # stable

    etl = tmp_path / "flows" / "sales" / "src" / "sales_flows" / "etl.py"
    etl.write_text(etl.read_text().replace('cron="0 9 * * *"', 'cron="0 10 * * *"'))
    after_team = keys(workspace)
    assert after_team["sales-flows"] != before["sales-flows"]
    assert after_team["marketing-flows"] == before["marketing-flows"]  # another team's change

    core = tmp_path / "packages" / "flowfleet" / "src" / "flowfleet" / "resolve.py"
    core.write_text(core.read_text() + "\n# a core change\n")
    after_core = keys(workspace)
    assert after_core["sales-flows"] != after_team["sales-flows"]
    assert after_core["marketing-flows"] != after_team["marketing-flows"]

    assert keys(workspace, branch="feature/x") != after_core
    assert keys(workspace, env="dev") != after_core


def test_a_package_with_secret_values_is_never_written_to_the_cache(tmp_path):
    from flowfleet.cache import holds_secrets
    from flowfleet.desired import DesiredDeployment

    base = dict(
        package="p",
        flow="f",
        name="n",
        full_name="f/n",
        entrypoint="m:f",
        work_pool="pool",
        pool_type="process",
        infra="worker",
    )
    plain = DesiredDeployment(**base, job_variables={"env": {"REGION": "eu-west-1"}})
    secret = DesiredDeployment(**base, job_variables={"env": {"DB_PASSWORD": "hunter2"}})
    token = DesiredDeployment(**base, parameters={"api_token": "abcd1234"})
    assert not holds_secrets(plain)
    assert holds_secrets(secret) and holds_secrets(token)

    workspace = copy_workspace(tmp_path)
    environment = load_environment(workspace.environments_dir, "prod")
    cache = ResolveCache(workspace, environment, "main", {})
    stored = tmp_path / ".state" / "cache" / "resolve" / "prod"
    loaded = SimpleNamespace(loaded_packages={"sales-flows"}, failed_packages=set())
    for deployment, written in ((plain, True), (secret, False)):
        deployment.package = "sales-flows"
        cache.store(Resolution(environment, deployments=[deployment]), loaded)
        assert (stored / "sales-flows.json").exists() is written
    assert "hunter2" not in "".join(p.read_text() for p in stored.iterdir())
