"""The shell of the workflows' flowfleet steps, run with bash as the runner runs it.

`uv` is replaced by a stand-in that prints a section and exits with a chosen code:
what is tested is the step's own glue (exit codes, the job summary, the file the
comment job picks up), not flowfleet, whose output the server tests cover.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

SECTION = "### `prod`: plan\n\n**📝 1 to update to apply**\n"


def step(workflow: str, job: str, name: str) -> str:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())
    [found] = [s for s in data["jobs"][job]["steps"] if s.get("name") == name]
    return found["run"]


def run_step(script: str, tmp_path: Path, exit_code: int, **env: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "uv"
    (bin_dir / "section.md").write_text(SECTION)
    fake.write_text(
        f'#!/bin/bash\ncat "{bin_dir}/section.md"\necho "uv $*" >&2\nexit {exit_code}\n'
    )
    fake.chmod(0o755)
    summary = tmp_path / "summary.md"
    summary.write_text("")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],  # GitHub's `bash`
        cwd=tmp_path,
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "GITHUB_STEP_SUMMARY": str(summary),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, summary.read_text()


@pytest.mark.parametrize(("code", "verdict"), [(0, "No drift"), (2, "Drift: prod differs")])
def test_the_drift_step_fails_on_drift_with_the_plan_in_its_summary(tmp_path, code, verdict):
    script = step("drift.yml", "drift", "Plan prod against main (changes nothing)")
    assert "--detailed-exitcode" in script and "--env prod" in script
    done, summary = run_step(script, tmp_path, code)
    assert done.returncode == code
    assert verdict in summary and SECTION in summary
    assert ("::error title=flowfleet drift::" in done.stdout) is (code == 2)


def test_the_drift_step_says_when_it_could_not_run(tmp_path):
    script = step("drift.yml", "drift", "Plan prod against main (changes nothing)")
    done, summary = run_step(script, tmp_path, 1)
    assert done.returncode == 1 and "could not run (exit 1)" in summary


@pytest.mark.parametrize("code", [0, 1])
def test_the_deploy_step_writes_its_summary_and_the_comment_section(tmp_path, code):
    script = step("ci.yml", "deploy", "Deploy the difference")
    done, summary = run_step(script, tmp_path, code, FLOWFLEET_ENV="dev")
    assert done.returncode == code  # a failed deploy still fails the job
    assert summary == SECTION  # ...after writing what it did to the summary
    assert (tmp_path / "dev.md").read_text() == SECTION  # the file the comment job posts


def test_the_prod_plan_step_keeps_its_section(tmp_path):
    script = step("ci.yml", "plan-prod", "Plan prod (changes nothing)")
    assert "--env prod --branch main" in script and "deploy" not in script
    done, summary = run_step(script, tmp_path, 0)
    assert done.returncode == 0 and (tmp_path / "prod.md").read_text() == SECTION == summary
