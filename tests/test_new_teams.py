"""Adding teams as the README says, in a fresh clone: lint and the workspace tests still pass.

A new team's first pull request runs `make test`; it must not fail because of the team
itself. So this test clones the repository (with any uncommitted work copied over),
scaffolds `billing` (the README's example) and `aaa` (sorts before `flowfleet`), adds
both as workspace members, runs `uv sync --all-packages`, `make lint`, and the tests
marked `workspace` (those that read the real team packages) in the clone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, git

pytestmark = pytest.mark.slow

TEAMS = ("billing", "aaa")


def fresh_clone(target: Path) -> Path:
    """`git clone` of this repository, plus its uncommitted changes and new files."""
    git(ROOT, "clone", "--quiet", str(ROOT), str(target))
    changed = git(ROOT, "ls-files", "--modified", "--others", "--exclude-standard", "-z")
    for relative in filter(None, changed.split("\0")):
        source, copy = ROOT / relative, target / relative
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
        else:  # deleted in the working tree
            copy.unlink(missing_ok=True)
    return target


def add_members(root: Path, teams: tuple[str, ...]) -> None:
    """The README's step: add "flows/<team>" to [tool.uv.workspace] members."""
    pyproject = root / "pyproject.toml"
    lines = "".join(f'\n    "flows/{team}",' for team in teams)
    text, count = re.subn(r"members = \[", lambda m: m.group(0) + lines, pyproject.read_text())
    assert count == 1, "the root pyproject.toml should have one members list"
    pyproject.write_text(text)


def test_two_new_teams_pass_lint_and_the_workspace_tests(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is needed to sync the clone"
    repo = fresh_clone(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PREFECT_"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("FLOWFLEET_ROOT", None)

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            args, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"{args}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        return done

    for team in TEAMS:
        # The source under test: this checkout's flowfleet, the same code as the clone's.
        run(sys.executable, "-m", "flowfleet", "new", team)
    add_members(repo, TEAMS)
    run(uv, "sync", "--all-packages", "--quiet")
    run("make", "-s", "lint")

    python = str(repo / ".venv" / "bin" / "python")
    listed = run(python, "-m", "flowfleet", "list", "--env", "prod", "--output", "json")
    names = {d["full_name"] for d in json.loads(listed.stdout)}
    assert {"billing-hello/default", "aaa-hello/default", "sales-etl/default"} <= names

    tests = run(
        python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "workspace and not server and not slow",
        f"--basetemp={tmp_path / 'inner'}",
    )
    assert re.search(r"\d+ passed", tests.stdout), tests.stdout[-2000:]
