"""Bad input never reaches the server: every case stops `deploy` with its exact line.

Builds on `test_bad_input.py`: its table (resolve level) is replayed here through
`engine.deploy` against the real test server, plus cases it lacks (plugins whose
hooks raise or return junk, clashing infra types, environment and config values,
and CLI arguments run as a user runs them). Each case snapshots the server's flows,
deployments and work pools before and after: nothing may change.

The sandbox's environments all point at one process pool that exists on the server,
so a bad input that slipped through would really be deployed, and show up.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import test_bad_input
from conftest import run_cli
from fleet_sandbox import ENVIRONMENTS, Sandbox, flow_module
from flowfleet import engine
from flowfleet.engine import Target
from flowfleet.problems import FlowfleetError
from flowfleet.session import Session
from snapshots import Snapshot, create_pool, snapshot, touched_by_a_client

pytestmark = pytest.mark.server

PKG = test_bad_input.PKG
POOL = "bad-input-pool"
FIX_PLUGIN = "fix or uninstall the plugin"


@pytest.fixture(scope="module")
def server_url(prefect_server) -> str:
    create_pool(prefect_server.api_url, POOL)
    return prefect_server.api_url


@pytest.fixture
def sandbox(tmp_path: Path, server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv("PREFECT_API_URL", server_url)
    monkeypatch.setenv("FLOWFLEET_BRANCH", "main")
    box = Sandbox(tmp_path)
    for name, text in ENVIRONMENTS.items():  # one pool that exists: a slip would deploy
        body = text.replace('single_pool = "local"\n', "")
        (box.env_dir / f"{name}.toml").write_text(f'single_pool = "{POOL}"\n{body}')
    try:
        yield box
    finally:
        box.close()


def same(before: Snapshot, after: Snapshot) -> None:
    assert after.flows == before.flows, "flows changed"
    assert after.deployments == before.deployments, "deployments changed"
    assert after.pools == before.pools, "work pools changed"
    assert touched_by_a_client(before, after) == [], "written without a change"


def deploy_lines(sb: Sandbox, env: str) -> list[str]:
    """What `deploy --env ENV` prints (one line per problem), run in-process."""
    session = Session(workspace=sb.workspace, plugins=sb.plugins)
    with pytest.raises(FlowfleetError) as failure:
        asyncio.run(engine.deploy(Target.load(env, session)))
    return [str(p) for p in failure.value.problems]


# ---------------------------------------------------------------- the table from issue 2


def env_of(case: test_bad_input.Case) -> str:
    if case.id.startswith("override-"):
        return "dev"
    return "staging" if case.id == "unknown-environment-in---env" else "prod"


# Checked against the pool's template, which laptop mode (single_pool: every type on one
# process pool, as this fixture's environments are) rightly skips; test_bad_input runs them.
TEMPLATE_CHECKED = {
    "fargate-half-set-size",
    "fargate-half-set-size-in-an-override",
    "unknown-job-variable",
    "job-variable-of-wrong-type",
    "job-variable-of-wrong-type-in-an-override",
    "network-configuration-without-vpc",
}
SERVER_CASES = [c for c in test_bad_input.CASES if c.id not in TEMPLATE_CHECKED]


@pytest.mark.parametrize("case", SERVER_CASES, ids=[c.id for c in SERVER_CASES])
def test_resolve_table_also_leaves_the_server_alone(
    sandbox: Sandbox, server_url: str, case: test_bad_input.Case
) -> None:
    before = snapshot(server_url)
    case.arrange(sandbox)
    lines = deploy_lines(sandbox, env_of(case))
    assert all("\n" not in line for line in lines)
    assert sum(all(part in line for part in case.expect) for line in lines) == 1, lines
    same(before, snapshot(server_url))


# ---------------------------------------------------------------- new cases, exact lines


@dataclass
class Exact:
    id: str
    arrange: Callable[[Sandbox], None]
    expect: str  # the whole line; {src} is the sandbox's src folder, {at} the decorator
    env: str = "prod"


def good_flow(sb: Sandbox, config: str = "") -> None:
    sb.package(PKG, {"report": flow_module(PKG, config)})


def plugin(name: str, source: str, also_flow: bool = True) -> Callable[[Sandbox], None]:
    """A plugin module `<name>` with the given body, registered under `name`."""

    def arrange(sb: Sandbox) -> None:
        if also_flow:
            good_flow(sb)
        header = "from flowfleet import EcsTask, InfraConfig, Worker, hookimpl\n"
        header += "from typing import ClassVar, Literal\n\n"
        sb.write(f"{name}.py", header + textwrap.dedent(source))
        sb.register(importlib.import_module(name), name)

    return arrange


def plugins(*arrangers: Callable[[Sandbox], None]) -> Callable[[Sandbox], None]:
    def arrange(sb: Sandbox) -> None:
        good_flow(sb)
        for each in arrangers:
            each(sb)

    return arrange


def config(text: str) -> Callable[[Sandbox], None]:
    return lambda sb: good_flow(sb, text)


def environment(text: str, env: str = "prod") -> Callable[[Sandbox], None]:
    def arrange(sb: Sandbox) -> None:
        good_flow(sb)
        (sb.env_dir / f"{env}.toml").write_text(text)

    return arrange


BATCH = """
class Batch(InfraConfig):
    type: Literal["batch"] = "batch"
    pool_type: ClassVar[str] = "process"
    uses_image: ClassVar[bool] = False

    def job_variables(self) -> dict:
        return {}
"""
BATCH_PLUGIN = BATCH + "\n\n@hookimpl\ndef flowfleet_infra_types():\n    return [Batch]\n"
AT_IMPORT = "(fix: correct the DeploymentConfig(...) arguments written there)"
REPORT = "acme-flows acme-report/default"

EXACT = [
    Exact(
        "adjust-hook-raises",
        plugin(
            "policy",
            """
            @hookimpl
            def flowfleet_adjust_deployment(deployment, environment):
                raise RuntimeError("policy service unreachable")
            """,
        ),
        f"{REPORT}: plugin 'policy' raised in flowfleet_adjust_deployment: RuntimeError: "
        "policy service unreachable [{at}] "
        f"(fix: {FIX_PLUGIN} 'policy'; nothing is deployed until then)",
    ),
    Exact(
        "adjust-hook-sets-an-invalid-value",
        plugin(
            "policy",
            """
            @hookimpl
            def flowfleet_adjust_deployment(deployment, environment):
                deployment.concurrency_limit = "lots"
            """,
        ),
        f"{REPORT}: plugin 'policy' raised in flowfleet_adjust_deployment: DesiredDeployment: "
        "concurrency_limit: Input should be a valid integer, unable to parse string as an "
        f"integer [{{at}}] (fix: {FIX_PLUGIN} 'policy'; nothing is deployed until then)",
    ),
    Exact(
        "infra-types-hook-raises",
        plugin(
            "batchy",
            """
            @hookimpl
            def flowfleet_infra_types():
                raise RuntimeError("licence check failed")
            """,
        ),
        "plugin 'batchy' raised in flowfleet_infra_types: RuntimeError: licence check failed "
        f"(fix: {FIX_PLUGIN} 'batchy')",
    ),
    Exact(
        "infra-types-hook-returns-a-string",
        plugin("batchy", '@hookimpl\ndef flowfleet_infra_types():\n    return ["batch"]\n'),
        "plugin 'batchy' returned 'batch' from flowfleet_infra_types, which is not an "
        "InfraConfig subclass with a `type` literal "
        "(fix: return a list of InfraConfig subclasses, such as `return [Batch]`)",
    ),
    Exact(
        "infra-types-hook-returns-an-instance",
        plugin("batchy", "@hookimpl\ndef flowfleet_infra_types():\n    return [Worker()]\n"),
        "plugin 'batchy' returned Worker(type='worker', kind='process', env={{}}, "
        "working_dir=None) from flowfleet_infra_types, which is not an InfraConfig subclass "
        "with a `type` literal "
        "(fix: return a list of InfraConfig subclasses, such as `return [Batch]`)",
    ),
    Exact(
        "two-plugins-give-the-same-infra-type",
        plugins(plugin("batch_one", BATCH_PLUGIN, False), plugin("batch_two", BATCH_PLUGIN, False)),
        "plugin 'batch_one' and plugin 'batch_two' both contribute infra type 'batch' "
        "(fix: uninstall one of them, or rename one type)",
    ),
    Exact(
        "plugin-shadows-a-built-in-infra-type",
        plugin(
            "fake_ecs",
            BATCH.replace('"batch"', '"ecs"')
            + "\n\n@hookimpl\ndef flowfleet_infra_types():\n    return [Batch]\n",
        ),
        "flowfleet: plugin 'flowfleet.infra.ecs' and plugin 'fake_ecs' both contribute infra "
        "type 'ecs' "
        "(fix: uninstall one of them, or rename one type)",
    ),
    Exact(
        "registries-hook-raises",
        plugin(
            "shelf",
            """
            @hookimpl
            def flowfleet_registries():
                raise RuntimeError("catalogue offline")
            """,
        ),
        f"plugin 'shelf' raised in flowfleet_registries: RuntimeError: catalogue offline "
        f"(fix: {FIX_PLUGIN} 'shelf')",
    ),
    Exact(
        "interval-negative",
        config("interval=-5"),
        f"{REPORT} field 'interval': interval must be positive, got -5s [{{at}}]",
    ),
    Exact(
        "concurrency-limit-zero-at-import",
        config("concurrency_limit=0"),
        "acme-flows field 'concurrency_limit': DeploymentConfig(...) refused: "
        f"Input should be greater than 0 [{{at}}] {AT_IMPORT}",
    ),
    Exact(
        "name-empty-at-import",
        config('name=""'),
        "acme-flows field 'name': DeploymentConfig(...) refused: "
        f"String should have at least 1 character [{{at}}] {AT_IMPORT}",
    ),
    Exact(
        "tags-a-string-at-import",
        config('tags="nightly"'),
        "acme-flows field 'tags': DeploymentConfig(...) refused: "
        f"Input should be a valid list [{{at}}] {AT_IMPORT}",
    ),
    Exact(
        "parameter-of-the-wrong-type",
        config('parameters={"audience": 3}'),
        f"{REPORT} field 'parameters.audience': invalid value: Input should be a valid string "
        "[{at}]",
    ),
    Exact(
        "pool-name-unknown-placeholder",
        environment('default_infra = "worker"\n[pools]\nworker = "{nope}-pool"\n'),
        "{src}/../infra/environments/prod.toml:2: key 'pools': pool name '{{nope}}-pool' uses "
        "{{nope}}; known placeholders: {{env}}, {{type}}, {{package}}",
    ),
    Exact(
        "environment-branches-not-a-list",
        environment('branches = "main"\n'),
        "{src}/../infra/environments/prod.toml:1: key 'branches': Input should be a valid list",
    ),
    Exact(
        "environment-api-url-not-a-string",
        environment("api_url = 5\n"),
        "{src}/../infra/environments/prod.toml:1: key 'api_url': Input should be a valid string",
    ),
    Exact(
        "environment-default-infra-unknown",
        environment('default_infra = "lambda"\n'),
        f"{REPORT} field 'infra': unknown infra type 'lambda' (known: ecs, worker) [{{at}}] "
        "(fix: install the plugin that provides it, or use a known type)",
    ),
]


@pytest.mark.parametrize("case", EXACT, ids=[c.id for c in EXACT])
def test_new_bad_input_stops_deploy_with_its_exact_line(
    sandbox: Sandbox, server_url: str, case: Exact
) -> None:
    before = snapshot(server_url)
    case.arrange(sandbox)
    report = sandbox.src / PKG / "report.py"
    decorator = next(
        n for n, t in enumerate(report.read_text().splitlines(), 1) if t.startswith("@registry(")
    )
    expected = case.expect.format(src=sandbox.src, at=f"{report}:{decorator}")
    expected = expected.replace(f"{sandbox.src}/../", f"{sandbox.root}/")
    lines = deploy_lines(sandbox, case.env)
    assert expected in lines, "\n".join(lines)
    same(before, snapshot(server_url))


# ---------------------------------------------------------------- CLI arguments

CLI_CASES = {
    "unknown-env": (
        ("deploy", "--env", "staging"),
        "error: unknown environment 'staging': no file {root}/infra/environments/staging.toml "
        "(known: dev, local, prod) (fix: pick a known environment or create staging.toml)",
    ),
    "bad-output": (
        ("deploy", "--env", "prod", "--output", "xml"),
        "Invalid value for '--output' / '-o': Value error, 'xml' is not one of 'table', "
        "'json', 'markdown', 'github'.",
    ),
    "concurrency-zero": (
        ("deploy", "--env", "prod", "--concurrency", "0"),
        "Invalid value for '--concurrency': takes a number from 1 to 32 or 'auto', not '0'",
    ),
    "concurrency-not-a-number": (
        ("deploy", "--env", "prod", "--concurrency", "many"),
        "Invalid value for '--concurrency': takes a number from 1 to 32 or 'auto', not 'many'",
    ),
    "unknown-option": (("deploy", "--env", "prod", "--purge"), "No such option: --purge"),
    "prune-both-selectors": (
        ("prune", "--env", "prod", "--branch", "x", "--stale-branches"),
        "error: give --branch NAME or --stale-branches, not both",
    ),
    # Exit 2 would read as "changes pending" to a CI step; a usage error is 1.
    "detailed-exitcode-with-bad-output": (
        ("plan", "--env", "prod", "--detailed-exitcode", "--output", "yaml"),
        "Invalid value for '--output' / '-o': Value error, 'yaml' is not one of 'table', "
        "'json', 'markdown', 'github'.",
    ),
}


def flat(text: str) -> str:
    """Rich's error box as plain text: box lines removed, whitespace folded."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_bad_cli_arguments_exit_1_with_their_message(api_env, prefect_server) -> None:
    env = {**api_env, "COLUMNS": "200"}
    before = snapshot(prefect_server.api_url)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            key: pool.submit(run_cli, *args, env=env) for key, (args, _) in CLI_CASES.items()
        }
        results = {key: future.result() for key, future in futures.items()}
    from conftest import ROOT

    for key, (_, message) in CLI_CASES.items():
        result = results[key]
        assert result.returncode == 1, (key, result.returncode, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        assert message.format(root=ROOT) in flat(result.stderr), (key, result.stderr)
    same(before, snapshot(prefect_server.api_url))
