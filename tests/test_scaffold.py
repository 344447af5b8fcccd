"""`flowfleet new TEAM` writes a package that imports cleanly, validates and passes the lint.

The team names here are made up per run, so a team package a user has installed (the
README's `billing`, say) never meets the one these tests write. test_new_teams.py adds
real teams to a fresh clone of the repository.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from conftest import ROOT
from fleet_sandbox import Sandbox
from flowfleet.cli.scaffold import new

pytestmark = pytest.mark.workspace

# Names that sort before and after `flowfleet` (isort puts the team's module first for
# those before), with digits, dashes, a `flowfleet` prefix, and the longest allowed.
LINT_NAMES = ["aaa", "analytics", "billing", "data-eng", "f1", "flow-x", "flowfleet2"]
LINT_NAMES += ["m9", "m10", "prefect", "zeta", "z" * 40]


def unique_team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    monkeypatch.setenv("FLOWFLEET_ROOT", str(tmp_path))
    try:
        yield box
    finally:
        box.close()


def test_new_team_package(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    team = unique_team()
    module = f"{team.replace('-', '_')}_flows"
    new(team, infra="ecs")
    assert f"created flows/{team}" in capsys.readouterr().out

    target = sandbox.root / "flows" / team
    written = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert written == [
        "pyproject.toml",
        f"src/{module}/__init__.py",
        f"src/{module}/hello.py",
    ]
    meta = tomllib.loads((target / "pyproject.toml").read_text())
    assert meta["project"]["name"] == f"{team}-flows"
    assert meta["project"]["entry-points"]["flowfleet"] == {team: f"{module}:registry"}
    assert meta["tool"]["flowfleet"] == {"image": f"{team}-flows", "default_infra": "ecs"}
    assert meta["tool"]["uv"]["sources"]["flowfleet"] == {"workspace": True}

    src = str(target / "src")
    sys.path.insert(0, src)
    importlib.invalidate_caches()
    try:
        registry = importlib.import_module(module).registry.load()
        assert registry.import_failures == []
        [registration] = registry.registrations
        assert registration.entrypoint == f"{module}.hello:hello"
        assert registration.flow.name == f"{team}-hello"
        sandbox.register(registry, team)
        resolution = sandbox.resolve("prod")
        assert [str(p) for p in resolution.problems] == []
        assert [d.full_name for d in resolution.deployments] == [f"{team}-hello/default"]
    finally:
        sys.path.remove(src)
        for name in [m for m in sys.modules if m.split(".")[0] == module]:
            del sys.modules[name]


@pytest.mark.parametrize("bad", ["Billing Team", "9lives", "data--eng", "eng-", "a" * 41])
def test_new_refuses_a_bad_name(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    with pytest.raises(typer.Exit) as refused:
        new(bad, infra="ecs")
    assert refused.value.exit_code == 1
    assert "lower case letters, digits and dashes" in capsys.readouterr().err
    assert not (sandbox.root / "flows").exists()


def test_new_refuses_an_existing_team(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    team = unique_team()
    new(team, infra="worker")
    with pytest.raises(typer.Exit):
        new(team, infra="ecs")
    assert "already exists" in capsys.readouterr().err


def test_the_new_package_passes_the_repositorys_lint_for_any_team_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make lint`'s two ruff runs, with the repository's own config, on scaffolded teams.

    isort's first-party detection follows `src = [...]` in that config, so the copy has
    the repository's layout: the core under packages/, the teams under flows/.
    """
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    core = tmp_path / "packages" / "flowfleet" / "src" / "flowfleet"
    core.mkdir(parents=True)
    (core / "__init__.py").write_text("")
    monkeypatch.setenv("FLOWFLEET_ROOT", str(tmp_path))
    for team in LINT_NAMES:
        new(team, infra="ecs")
    capsys.readouterr()

    for check in (["check"], ["format", "--check", "--diff"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "flows"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
