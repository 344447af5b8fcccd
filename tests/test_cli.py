"""`flowfleet list`, `validate` and `plugins`, run as a user runs them (no server needed).

Every run costs an interpreter start and `import prefect`, so all of them start
together, once per module, and each test reads its own result.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import run_cli
from project_files import write_environments

# reads the workspace's own team packages, through the CLI in subprocesses
pytestmark = [pytest.mark.workspace, pytest.mark.cli]

# A workspace with several problems at once: bad environment files, a package with a
# bad cron and a module that raises, and an entry point that names nothing.
BROKEN_ENVIRONMENTS = {
    "prod": 'single_pool = "local"\n',
    "dev": 'single_pool = "local"\nimage_regsitry = "ghcr.io/acme"\n',
    "qa": "default_infra = \n",
}
ACME_INIT = "from flowfleet import Registry\n\nregistry = Registry()\n"
ACME_REPORT = """\
from prefect import flow

from flowfleet import DeploymentConfig
from acme_flows import registry


@registry(DeploymentConfig(cron="0 9 * * *"))
@registry(DeploymentConfig(name="broken", cron="61 * * * *"))
@flow(name="acme-report")
def report() -> None:
    pass
"""
ACME_ENTRY_POINTS = "[flowfleet]\nacme = acme_flows:registry\nghost = ghost_flows:registry\n"


def broken_workspace(root: Path) -> dict[str, str]:
    """Write the broken workspace; return the process environment that sees its package."""
    (root / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = []\n")
    write_environments(root, BROKEN_ENVIRONMENTS)
    site = root / "site"
    (site / "acme_flows").mkdir(parents=True)
    (site / "acme_flows" / "__init__.py").write_text(ACME_INIT)
    (site / "acme_flows" / "report.py").write_text(ACME_REPORT)
    (site / "acme_flows" / "bad.py").write_text('raise RuntimeError("no credentials")\n')
    info = site / "acme_flows-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-flows\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(ACME_ENTRY_POINTS)
    return {**os.environ, "PYTHONPATH": str(site)}


# The real workspace's runs are shared with test_kubernetes_plugin.py (see `workspace_cli`).
REAL = {
    "validate": ("validate",),
    "prod": ("list", "--env", "prod", "--output", "json"),
    "nope": ("list", "--env", "nope"),
    "plugins": ("plugins",),
}


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, workspace_cli
) -> dict[str, subprocess.CompletedProcess[str]]:
    workspace_cli.start(*REAL.values())
    broken = tmp_path_factory.mktemp("broken")
    broken_env = broken_workspace(broken)
    calls = {
        "broken-validate": ("validate",),
        "broken-list": ("list", "--env", "prod"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            key: pool.submit(run_cli, *args, cwd=broken, env=broken_env)
            for key, args in calls.items()
        }
        done = {key: future.result() for key, future in futures.items()}
    return {**done, **{key: workspace_cli(*args) for key, args in REAL.items()}}


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def test_validate_passes_on_the_real_workspace(runs) -> None:
    result = runs["validate"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")
    assert "dev, local, prod" in result.stdout


def test_validate_lists_every_problem_at_once(runs) -> None:
    result = runs["broken-validate"]
    assert result.returncode == 1
    errors = error_lines(result)
    expected = [
        "dev.toml:2: unknown key 'image_regsitry'",
        "qa.toml:1: malformed TOML",
        "acme-flows acme-report/broken field 'cron': invalid cron '61 * * * *'",
        "acme-flows: importing acme_flows.bad raised RuntimeError: no credentials",
        "acme-flows: entry point 'ghost = ghost_flows:registry' names nothing",
    ]
    for fragment in expected:
        assert sum(fragment in line for line in errors) == 1, (fragment, errors)
    assert len(errors) == len(set(errors)), "each problem once, not once per environment"


def test_list_still_shows_the_packages_that_loaded(runs) -> None:
    result = runs["broken-list"]
    assert result.returncode == 1
    # Piped, the table is wide enough that nothing is cut short.
    assert "…" not in result.stdout
    for name in ("acme-report/default", "sales-etl/weekly-archive", "marketing-campaign-sync"):
        assert name in result.stdout
    assert "acme-report/broken" not in result.stdout
    assert any("importing acme_flows.bad" in line for line in error_lines(result))


def test_list_with_an_unknown_environment(runs) -> None:
    result = runs["nope"]
    assert result.returncode == 1
    assert result.stdout == ""
    assert error_lines(result) == result.stderr.splitlines()
    [line] = error_lines(result)
    assert "unknown environment 'nope'" in line and "(known: dev, local, prod)" in line


KEYS = {
    "package",
    "flow",
    "name",
    "full_name",
    "entrypoint",
    "work_pool",
    "infra",
    "image",
    "job_variables",
    "schedules",
    "paused",
    "parameters",
    "tags",
}


def listing(result: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    assert result.returncode == 0, result.stderr
    return {d["full_name"]: d for d in json.loads(result.stdout)}


def test_list_prod_json(runs) -> None:
    prod = listing(runs["prod"])
    for d in prod.values():
        assert set(d) >= KEYS, d["full_name"]
        assert d["full_name"] == f"{d['flow']}/{d['name']}"
    packages = {d["package"] for d in prod.values()}
    assert {"sales-flows", "marketing-flows"} <= packages

    etl = prod["sales-etl/default"]
    assert etl["package"] == "sales-flows"
    assert etl["entrypoint"] == "sales_flows.etl:filter_active"
    assert (etl["work_pool"], etl["infra"], etl["paused"]) == ("ecs-prod", "ecs", False)
    assert etl["schedules"] == [{"cron": "0 9 * * *", "timezone": "Europe/London"}]
    assert etl["image"].startswith("ghcr.io/acme/sales-flows:")
    assert etl["job_variables"] == {"cpu": 1024, "memory": 2048, "image": etl["image"]}
    assert set(etl["tags"]) == {"sales", "etl"}
    assert prod["sales-etl/weekly-archive"]["parameters"] != etl["parameters"]

    report = prod["marketing-weekly-report/default"]
    assert report["schedules"] == [
        {"rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=8;BYMINUTE=30", "timezone": "America/New_York"}
    ]
    sync = prod["marketing-campaign-sync/default"]
    assert (sync["infra"], sync["work_pool"], sync["image"]) == ("worker", "worker-prod", None)
    assert sync["paused"] is False
    assert sync["parameters"] == {"channels": ["email", "social", "search"], "lookback_days": 3}
    assert sync["schedules"] == [{"interval": 3600.0, "timezone": "UTC"}]
    # Only in dev: see test_resolve.py for the dev side, resolved in-process.
    assert "marketing-attribution-experiment/dev-trial" not in prod


def test_plugins_lists_defaults_and_team_packages(runs) -> None:
    result = runs["plugins"]
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "ecs" in rows["flowfleet.infra.ecs"] and "worker" in rows["flowfleet.infra.worker"]
    assert "sales-flows" in rows["sales"] and "sales_flows" in rows["sales"]
    assert "marketing-flows" in rows["marketing"]
