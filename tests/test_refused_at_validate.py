"""What the Prefect server refuses is refused at `validate`: one line, no server needed.

Issue 18: a deployment named `a/b`, a parameter that is not JSON, an interval of a
fraction of a second, an empty pool name, `--env ../../x` and `new --infra` with a
newline all got past `validate`. Each case here gives exactly one line naming the
package, the flow, the field and the fix (tests/test_bad_input.py's style).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from disk_project import DiskProject, error_lines
from fleet_sandbox import Sandbox, flow_module
from flowfleet import acceptance
from snapshots import create_pool, snapshot
from test_bad_input import environment_file

PKG = "acme_flows"
ANY = 'audience: str = "team", extra: object = None'


def config(text: str, signature: str = ANY) -> Callable[[Sandbox], list[str]]:
    def arrange(sb: Sandbox) -> list[str]:
        sb.package(PKG, {"report": flow_module(PKG, text, signature)})
        return sb.problems("prod")

    return arrange


def environment(name: str, text: str | bytes | None) -> Callable[[Sandbox], list[str]]:
    if not isinstance(text, bytes):
        return environment_file(name, text)

    def arrange(sb: Sandbox) -> list[str]:
        (sb.env_dir / f"{name}.toml").write_bytes(text)
        return environment_file(name, None)(sb)

    return arrange


@dataclass
class Case:
    id: str
    arrange: Callable[[Sandbox], list[str]]
    expect: list[str]


NAME_FIX = "(fix: use a name without any of / % & > <)"
JSON_FIX = "(fix: pass str, int, float, bool, None, or lists and dicts of them"
AT = "acme-flows acme-report/"

CASES = [
    *(
        Case(
            f"deployment-name-with-{label}",
            config(f'name="a{char}b"'),
            [f"{AT}a{char}b field 'name': name 'a{char}b' contains {char}", NAME_FIX],
        )
        for label, char in (("slash", "/"), ("percent", "%"), ("amp", "&"), ("gt", ">"))
    ),
    Case(
        "deployment-name-blank",
        config('name="  "'),
        [f"{AT}   field 'name': name '  ' is empty", NAME_FIX],
    ),
    Case(
        "work-pool-override-with-slash",
        config('work_pool="ecs/prod"'),
        ["field 'work_pool': work_pool 'ecs/prod' contains /", NAME_FIX],
    ),
    Case(
        "parameter-holding-an-object",
        config('parameters={"extra": object()}'),
        [
            f"{AT}default field 'parameters.extra': object value is not JSON; "
            "the server stores parameters as JSON",
            JSON_FIX,
        ],
    ),
    Case(
        "parameter-holding-nan",
        config('parameters={"extra": float("nan")}'),
        ["field 'parameters.extra': float value is not JSON", JSON_FIX],
    ),
    Case(
        "parameter-with-a-non-string-key",
        config('parameters={"extra": {1: "one"}}'),
        ["field 'parameters.extra': int value key 1 is not JSON", JSON_FIX],
    ),
    Case(
        "parameter-set-of-unsortable-values",
        config('parameters={"extra": {1, "a"}}'),
        ["field 'parameters.extra': set value is not JSON", JSON_FIX],
    ),
    Case(
        "job-variable-holding-an-object",
        config('job_variables={"env": {"WHEN": object()}}'),
        ["field 'job_variables.env': object value.WHEN is not JSON", JSON_FIX],
    ),
    Case(
        "interval-of-a-fraction-of-a-second",
        config("interval=0.0001"),
        [
            f"{AT}default field 'interval': interval of 0.0001s is shorter than 60s",
            "(fix: use at least 60s, or set allow_short_interval=True)",
        ],
    ),
    Case(
        "interval-of-59-seconds",
        config("interval=59"),
        ["field 'interval': interval of 59s is shorter than 60s"],
    ),
    Case(
        "empty-pool-name-in-environment",
        environment("prod", '[pools]\necs = ""\n'),
        ["prod.toml:1: key 'pools': pool name for 'ecs' is empty", "(use a name without"],
    ),
    Case(
        "pool-name-with-slash-in-environment",
        environment("prod", '[pools]\necs = "ecs/{env}"\n'),
        ["key 'pools': pool name for 'ecs' contains /"],
    ),
    Case(
        "empty-single-pool",
        environment("local", 'single_pool = ""\n'),
        ["local.toml:1: key 'single_pool': pool name is empty"],
    ),
    Case(
        "environment-file-not-utf8",
        environment("prod", b'default_infra = "ecs"\n# caf\xe9\n'),
        ["prod.toml: not UTF-8 (byte 27)", "(fix: save the file as UTF-8)"],
    ),
    *(
        Case(
            f"environment-name-{label}",
            environment(name, None),
            [f"environment name {name!r} is not allowed", "(fix: use lower-case letters"],
        )
        for label, name in (
            ("climbing-out", "../../x"),
            ("absolute", "/etc/passwd"),
            ("upper-case", "Prod"),
            ("leading-dash", "-prod"),
            ("with-newline", "prod\n"),
        )
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_with_one_clear_line(sandbox: Sandbox, case: Case) -> None:
    problems = case.arrange(sandbox)
    assert problems, "the bad input went unnoticed"
    for line in problems:
        assert "\n" not in line and "Traceback" not in line, line
    matching = [line for line in problems if all(part in line for part in case.expect)]
    assert len(matching) == 1, f"no single line has all of {case.expect}; got:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize(
    "text",
    ['name="a-b"', "interval=60", "interval=1, allow_short_interval=True", 'work_pool="ecs-x"'],
)
def test_what_the_server_accepts_passes(sandbox: Sandbox, text: str) -> None:
    assert config(text)(sandbox) == []


def test_banned_characters_are_prefects_own() -> None:
    from prefect.types.names import BANNED_CHARACTERS

    assert sorted(acceptance.BANNED_CHARACTERS) == sorted(BANNED_CHARACTERS)


def test_sets_and_tuples_become_canonical_json(sandbox: Sandbox) -> None:
    sandbox.package(
        PKG,
        {
            "report": flow_module(
                PKG,
                'parameters={"extra": {"regions": {"us", "eu", "apac"}, "pair": (1, 2)}}',
                ANY,
            )
        },
    )
    [deployment] = sandbox.resolve().deployments
    assert deployment.parameters == {"extra": {"regions": ["apac", "eu", "us"], "pair": [1, 2]}}


SPEC_HASH = f"""
import sys
sys.path.insert(0, sys.argv[1])
from fleet_sandbox import Sandbox, flow_module
from pathlib import Path
sb = Sandbox(Path(sys.argv[2]))
params = 'parameters={{"extra": {{"b", "a", "c", "d"}}}}'
sb.package("{PKG}", {{"report": flow_module("{PKG}", params, '{ANY}')}})
[deployment] = sb.resolve().deployments
print(deployment.labels["flowfleet.spec"])
"""


@pytest.mark.cli
def test_a_set_parameter_converges_across_processes(tmp_path: Path) -> None:
    """String hashing is salted per process, so a set's order differs run to run."""
    hashes = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", SPEC_HASH, str(ROOT / "tests"), str(tmp_path / seed)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        hashes.add(done.stdout.strip())
    assert len(hashes) == 1


@pytest.mark.cli
def test_env_outside_the_environments_folder_is_refused_before_any_file(tmp_path: Path) -> None:
    Sandbox(tmp_path / "ws").close()  # a workspace with environments
    outside = tmp_path / "x.toml"
    outside.write_text('api_url = "http://127.0.0.1:9/api"\n')
    cache = tmp_path / "cache"
    env = {**os.environ, "FLOWFLEET_ROOT": str(tmp_path / "ws"), "FLOWFLEET_CACHE_DIR": str(cache)}
    env.pop("FLOWFLEET_NO_CACHE", None)
    for command in ("plan", "validate", "list", "deploy"):
        done = run_cli(command, "--env", "../../../x", env=env, cwd=tmp_path / "ws")
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stderr.splitlines() == [
            "error: environment name '../../../x' is not allowed (fix: use lower-case letters, "
            "digits, '-' and '_', starting with a letter or digit (the name of a file in "
            "infra/environments/))"
        ], command
    assert not cache.exists()


@pytest.mark.cli
@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["b", "--infra", "k8s"], "error: unknown infra type 'k8s' (known: ecs, "),
        (
            ["b", "--infra", 'ecs"\n[tool.uv.sources.evil]\nx = "y'],
            "error: unknown infra type 'ecs\"\\n[tool.uv.sources.evil]",
        ),
        (["b\n[evil]"], "must be lower case letters, digits and dashes"),
        (["B"], "error: team name 'B' must be lower case letters, digits and dashes"),
    ],
)
def test_new_refuses_bad_arguments_and_writes_nothing(
    tmp_path: Path, args: list[str], expect: str
) -> None:
    Sandbox(tmp_path).close()
    env = {**os.environ, "FLOWFLEET_ROOT": str(tmp_path)}
    done = run_cli("new", *args, env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert expect in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "flows").exists()


def test_every_refusal_of_one_deployment_is_listed(sandbox: Sandbox) -> None:
    problems = config('name="a/b", interval=1, parameters={"extra": object()}')(sandbox)
    fields = sorted(line.split("field '")[1].split("'")[0] for line in problems)
    assert fields == ["interval", "name", "parameters.extra"], problems


BAD_DEPLOYMENT = """
from prefect import flow

from flowfleet import DeploymentConfig
from {package} import registry


@registry(DeploymentConfig(name="a/b", cron="0 4 * * *"))
@flow(name="{flow}")
def bad() -> None:
    pass
"""


@pytest.mark.server
def test_deploy_with_one_bad_deployment_writes_nothing_of_it(prefect_server, tmp_path) -> None:
    """Issue 18: `name="a/b"` created the flow, then died with a 65-line traceback."""
    project = DiskProject(tmp_path / "p", prefect_server.api_url, flows=2, per_flow=1)
    create_pool(prefect_server.api_url, project.pool)
    bad_flow = f"bad-{project.uid}"
    module = project.site / project.package / "bad.py"
    module.write_text(BAD_DEPLOYMENT.format(package=project.package, flow=bad_flow))

    lines = module.read_text().splitlines()
    decorator = next(n for n, text in enumerate(lines, 1) if text.startswith("@registry"))
    at = f"{module.relative_to(project.root)}:{decorator}"
    done = project.run("deploy", "--env", "test")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line, summary] = error_lines(done.stderr)  # the problem, then the partial-load line
    assert line == (
        f"error: disk-{project.uid}-flows {bad_flow}/a/b field 'name': name 'a/b' contains /, "
        f"which the Prefect server refuses in names [{at}] "
        "(fix: use a name without any of / % & > <)"
    )
    assert summary.startswith("error: 1 package(s) did not load and were not deployed: disk-")
    state = snapshot(prefect_server.api_url)
    assert bad_flow not in state.flow_names, "the bad deployment's flow was created"
    assert not [n for n in state.full_names if n.startswith(bad_flow)]
