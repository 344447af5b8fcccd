"""`flowfleet new TEAM` writes a package that imports cleanly and validates."""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from fleet_sandbox import Sandbox
from flowfleet.cli.scaffold import new


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    monkeypatch.setenv("FLOWFLEET_ROOT", str(tmp_path))
    try:
        yield box
    finally:
        box.close()


def test_new_team_package(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    new("billing", infra="ecs")
    assert "created flows/billing" in capsys.readouterr().out

    target = sandbox.root / "flows" / "billing"
    written = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert written == [
        "pyproject.toml",
        "src/billing_flows/__init__.py",
        "src/billing_flows/hello.py",
    ]
    meta = tomllib.loads((target / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "billing-flows"
    assert meta["project"]["entry-points"]["flowfleet"] == {"billing": "billing_flows:registry"}
    assert meta["tool"]["flowfleet"] == {"image": "billing-flows", "default_infra": "ecs"}
    assert meta["tool"]["uv"]["sources"]["flowfleet"] == {"workspace": True}

    src = str(target / "src")
    sys.path.insert(0, src)
    importlib.invalidate_caches()
    try:
        registry = importlib.import_module("billing_flows").registry.load()
        assert registry.import_failures == []
        [registration] = registry.registrations
        assert registration.entrypoint == "billing_flows.hello:hello"
        assert registration.flow.name == "billing-hello"
        sandbox.register(registry, "billing")
        resolution = sandbox.resolve("prod")
        assert [str(p) for p in resolution.problems] == []
        assert [d.full_name for d in resolution.deployments] == ["billing-hello/default"]
    finally:
        sys.path.remove(src)
        for name in [m for m in sys.modules if m.split(".")[0] == "billing_flows"]:
            del sys.modules[name]


def test_new_refuses_a_bad_name_and_an_existing_team(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as bad:
        new("Billing Team", infra="ecs")
    assert bad.value.exit_code == 1
    assert "lower case letters, digits and dashes" in capsys.readouterr().err

    new("billing", infra="worker")
    with pytest.raises(typer.Exit):
        new("billing", infra="ecs")
    assert "already exists" in capsys.readouterr().err
