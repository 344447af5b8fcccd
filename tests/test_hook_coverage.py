"""Meta-tests: every hookspec is exercised by a test and has an entry in docs/plugins.md.

A hook counts as exercised when a test file calls it (`plugins.hook.<name>(...)`)
or implements it (`def <name>(...)`). Comments and strings do not count: the
files are parsed, not grepped. The guide's example plugin is run as well, so the
code a reader pastes is known to work.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
from prefect import flow

from conftest import ROOT
from flowfleet import DeploymentConfig, Registry, hookspecs
from flowfleet.loader import Fleet
from flowfleet.plugins import load_plugins
from flowfleet.resolve import resolve
from flowfleet.session import Session

GUIDE = ROOT / "docs" / "plugins.md"
SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"


def hookspec_names() -> list[str]:
    return [
        name for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, SPEC_MARKER)
    ]


def scanned_files() -> list[Path]:
    files = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "packages").glob("*/tests/**/*.py")]
    return sorted(f for f in files if f.resolve() != Path(__file__).resolve())


def exercised(sources: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """hook name -> ["file:line", ...] where a test calls or implements it."""
    found: dict[str, list[str]] = {}
    for label, source in sources:
        for node in ast.walk(ast.parse(source)):
            name = None
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = node.name
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
            if name:
                found.setdefault(name, []).append(f"{label}:{node.lineno}")
    return found


def documented(guide: str, hooks: Iterable[str]) -> set[str]:
    """Hooks with a heading in the guide, or with their signature in a code block."""
    headings = [line for line in guide.splitlines() if line.startswith("#")]
    blocks = "\n".join(re.findall(r"^```[^\n]*\n(.*?)^```", guide, re.M | re.S))
    return {
        hook
        for hook in hooks
        if any(re.search(rf"\b{hook}\b", h) for h in headings) or f"def {hook}(" in blocks
    }


def _sources() -> list[tuple[str, str]]:
    return [(str(f.relative_to(ROOT)), f.read_text()) for f in scanned_files()]


def test_hookspecs_are_found():
    # If discovery silently found nothing, the two checks below would pass vacuously.
    assert {
        "flowfleet_registries",
        "flowfleet_infra_types",
        "flowfleet_adjust_deployment",
    } <= set(hookspec_names())


def test_every_hookspec_is_exercised_by_a_test():
    found = exercised(_sources())
    missing = [hook for hook in hookspec_names() if hook not in found]
    assert not missing, (
        f"hookspecs with no test that calls (plugins.hook.<name>(...)) or implements "
        f"(def <name>(...)) them: {', '.join(missing)}"
    )


def test_every_hookspec_has_an_entry_in_the_plugin_guide():
    missing = set(hookspec_names()) - documented(GUIDE.read_text(), hookspec_names())
    assert not missing, f"hookspecs with no heading in {GUIDE.relative_to(ROOT)}: {missing}"


def test_the_checks_fail_for_an_untested_undocumented_hook():
    source = """
# flowfleet_new_hook is mentioned in a comment
"flowfleet_new_hook()"
plugins.hook.flowfleet_other_hook(x=1)
class Impl:
    def flowfleet_third_hook(self): ...
"""
    found = exercised([("fake.py", source)])
    assert "flowfleet_new_hook" not in found
    assert found["flowfleet_other_hook"] == ["fake.py:4"]
    assert found["flowfleet_third_hook"] == ["fake.py:6"]

    guide = (
        "# Guide\n\n## `flowfleet_a`\n\nmentions flowfleet_b in prose\n\n"
        "```python\ndef flowfleet_c():\n```\n"
    )
    assert documented(guide, ["flowfleet_a", "flowfleet_b", "flowfleet_c"]) == {
        "flowfleet_a",
        "flowfleet_c",
    }


# --- the guide's minimal plugin, run as written ------------------------------------------


def _guide_block(first_line: str) -> str:
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", GUIDE.read_text(), re.M | re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"no code block starting with {first_line!r} in {GUIDE}")


@pytest.fixture
def guide_plugin(tmp_path, monkeypatch):
    pyproject = tomllib.loads(_guide_block("# packages/flowfleet-batch/pyproject.toml"))
    [(ep_name, module_name)] = pyproject["project"]["entry-points"]["flowfleet"].items()
    assert pyproject["tool"]["uv"]["sources"]["flowfleet"] == {"workspace": True}
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        f"src/{module_name}"
    ]
    code = _guide_block(f"# packages/flowfleet-batch/src/{module_name}/__init__.py")
    path = tmp_path / module_name / "__init__.py"
    path.parent.mkdir()
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)
    spec.loader.exec_module(module)
    return ep_name, module


def test_the_guides_example_plugin_works(guide_plugin):
    ep_name, module = guide_plugin
    registry = Registry(package="batchtest-flows")

    @registry(DeploymentConfig(infra={"type": "batch", "working_dir": "/srv/nightly"}))
    @registry(DeploymentConfig(name="relative", infra={"type": "batch", "working_dir": "tmp"}))
    @flow(name="batchtest-nightly")
    def nightly() -> None: ...

    session = Session()
    plugins = load_plugins(entry_point_group=None)
    plugins.register(module, ep_name)
    try:
        assert "batch" in plugins.infra_types.names
        fleet = Fleet(plugins, registries=[registry])
        resolution = resolve(
            fleet, session.facts(session.environment("dev"), None, fleet.loaded_packages)
        )
    finally:
        plugins.unregister(ep_name)

    [deployment] = resolution.deployments
    assert deployment.full_name == "batchtest-nightly/default"
    assert deployment.pool_type == "process"
    assert deployment.work_pool == "batch-dev"
    assert deployment.job_variables == {"working_dir": "/srv/nightly", "env": {}}
    assert deployment.tags == ["env:dev"]
    assert deployment.concurrency_limit == 1
    [problem] = resolution.problems
    assert problem.field == "infra.working_dir"
    assert "working_dir must be an absolute path, got 'tmp'" in str(problem)
    assert "batch" not in plugins.infra_types.names
