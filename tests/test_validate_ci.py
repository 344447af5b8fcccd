"""`validate` and `plugins` for CI: JSON output, and GitHub annotations on the right lines."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import run_cli
from test_cli import broken_workspace


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    broken = tmp_path_factory.mktemp("broken")
    env = broken_workspace(broken)
    calls = {
        "annotations": (("validate",), {"cwd": broken, "env": {**env, "GITHUB_ACTIONS": "true"}}),
        "json": (("validate", "--output", "json"), {"cwd": broken, "env": env}),
        "plain": (("validate",), {"cwd": broken, "env": {**env, "GITHUB_ACTIONS": "false"}}),
        "plugins": (("plugins", "--output", "json"), {}),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(run_cli, *args, **kw) for key, (args, kw) in calls.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.cli
def test_in_github_actions_validate_annotates_the_decorator_and_the_environment_file(runs):
    result = runs["annotations"]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    commands = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    # The bad cron: on the line of its decorator, in the file as the repository names it.
    assert (
        "::error file=site/acme_flows/report.py,line=8,"
        "title=flowfleet acme-flows acme-report/broken::field 'cron': invalid cron '61 * * * *'"
    ) in "\n".join(commands)
    # The misspelt key and the malformed file: on their lines of the environment files.
    assert any(
        c.startswith("::error file=infra/environments/dev.toml,line=2,title=flowfleet::")
        and "unknown key 'image_regsitry'" in c
        for c in commands
    ), commands
    assert any(
        c.startswith("::error file=infra/environments/qa.toml,line=1,") and "malformed TOML" in c
        for c in commands
    ), commands
    # The module that raises: on the line that raised.
    assert any(
        c.startswith("::error file=site/acme_flows/bad.py,line=1,") and "RuntimeError" in c
        for c in commands
    ), commands
    # Every problem is still one plain line on stderr, once.
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(commands) == len(errors) == len(set(errors))


@pytest.mark.cli
def test_outside_github_actions_there_are_no_workflow_commands(runs):
    result = runs["plain"]
    assert result.returncode == 1
    assert "::error" not in result.stdout


@pytest.mark.cli
def test_validate_json_gives_every_problem_with_its_parts(runs):
    result = runs["json"]
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["environments"] == ["dev", "prod", "qa"]
    by_message = {p["message"]: p for p in data["problems"]}
    cron = next(p for p in data["problems"] if p["field"] == "cron")
    assert cron["package"] == "acme-flows" and cron["flow"] == "acme-report/broken"
    assert cron["file"] == "site/acme_flows/report.py" and cron["line"] == 8
    assert "invalid cron '61 * * * *'" in cron["message"]
    [unknown] = [p for m, p in by_message.items() if "unknown key 'image_regsitry'" in m]
    assert (unknown["file"], unknown["line"]) == ("infra/environments/dev.toml", 2)
    assert unknown["fix"] == "did you mean 'image_registry'?"
    ghost = next(p for p in data["problems"] if "ghost" in p["message"])
    assert ghost["file"] is None and ghost["line"] is None
    assert len(data["problems"]) == len(result.stderr.strip().splitlines())


@pytest.mark.cli
def test_plugins_json_names_each_plugin_and_what_it_adds(runs):
    result = runs["plugins"]
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["flowfleet.infra.ecs"]["infra_types"] == ["ecs"]
    assert rows["flowfleet.infra.ecs"]["distribution"] == "flowfleet"
    sales = next(row for row in rows.values() if row["distribution"] == "sales-flows")
    assert sales["registries"] and sales["version"]
    assert all(
        set(row) == {"name", "distribution", "version", "infra_types", "registries"}
        for row in rows.values()
    )


def test_a_file_problem_reads_as_before(tmp_path: Path):
    """An environment file's problem still starts with `path:line:` in plain text."""
    from flowfleet.problems import Problem

    problem = Problem("malformed TOML: x", source="infra/environments/qa.toml:3")
    assert str(problem) == "infra/environments/qa.toml:3: malformed TOML: x"
    assert problem.location == ("infra/environments/qa.toml", 3)
    assert Problem("m", source="a.toml").location == ("a.toml", None)
