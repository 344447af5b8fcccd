"""Secrets never appear in any output or log, yet reach the server.

The API key (PREFECT_API_KEY, sent as a bearer token; a local server ignores it)
and job-variable values under secret-named keys (`*_KEY`, `*_TOKEN`, `*_SECRET`,
`*_PASSWORD`) are checked against every command's stdout and stderr, in every
output format, including plan diffs that change them and a 422 error line.

The password of `PREFECT_API_URL=http://user:pass@host/api`, against a real server with
basic auth, is checked against plan, deploy, pools, prune, list, render and run in every
output format, their error lines (unreachable, 401), and every file of the cache
directory. A flow named with Rich markup is listed and planned as written. The rules
themselves are tabled server-free in test_scrubber.py.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from disk_project import DiskProject, error_lines
from flowfleet import secrets
from flowfleet.devserver import LocalServer, free_port
from server_kinds import AUTH_STRING
from snapshots import snapshot

pytestmark = pytest.mark.server

API_KEY = "pnu_reliability7f3c9eDoNotPrint"
V1 = {"DB_PASSWORD": "hunter2-first", "API_TOKEN": "tok-first-1234", "S3_SECRET": "s3-first-99"}
V2 = {"DB_PASSWORD": "hunter2-second", "API_TOKEN": "tok-second-5678", "S3_SECRET": "s3-second-9"}
EVERY_SECRET = [API_KEY, *V1.values(), *V2.values()]


def infra(values: dict[str, str]) -> str:
    env = {**values, "REGION": "eu-west-1"}
    return f", infra=Worker(env={env!r}), parameters={{'days': 2}}"


def run_all(project: DiskProject, *commands: tuple[str, ...]) -> list:
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [
            pool.submit(project.run, *command, PREFECT_API_KEY=API_KEY) for command in commands
        ]
        return [f.result() for f in futures]


def assert_no_secret(results) -> None:
    for result in results:
        text = result.stdout + result.stderr
        assert "Traceback" not in text, text
        for secret in EVERY_SECRET:
            assert secret not in text, f"{secret!r} printed by {result.args[3:]}:\n{text}"


def test_no_output_format_prints_a_secret(prefect_server, tmp_path: Path) -> None:
    project = DiskProject(tmp_path / "p", prefect_server.api_url, flows=2, per_flow=1)
    project.write_flows(2, 1, extra=infra(V1))
    pools = project.run("pools", "--env", "test")  # with the template that checks variables
    assert pools.returncode == 0, pools.stderr
    outputs = run_all(
        project,
        ("list", "--env", "test"),
        ("list", "--env", "test", "--output", "json"),
        ("validate",),
        ("plan", "--env", "test", "--output", "markdown"),
    )
    assert [r.returncode for r in outputs] == [0, 0, 0, 0], [r.stderr for r in outputs]
    listed = json.loads(outputs[1].stdout)
    assert listed[0]["job_variables"]["env"] == {
        "DB_PASSWORD": secrets.MASK,
        "API_TOKEN": secrets.MASK,
        "S3_SECRET": secrets.MASK,
        "REGION": "eu-west-1",
    }
    first = project.run("deploy", "--env", "test", "--output", "json", PREFECT_API_KEY=API_KEY)
    assert first.returncode == 0, first.stderr
    outputs.append(first)

    # The worker needs the real values: they are sent, only never printed.
    name = f"{project.flow_name(0)}/d0"
    sent = snapshot(prefect_server.api_url).deployment(name)["job_variables"]["env"]
    assert sent == {**V1, "REGION": "eu-west-1"}

    # Changing the secrets makes plan diffs that carry them, in every format.
    project.write_flows(2, 1, extra=infra(V2))
    diffs = run_all(
        project,
        ("plan", "--env", "test"),
        ("plan", "--env", "test", "--output", "json"),
        ("plan", "--env", "test", "--output", "markdown"),
    )
    assert [r.returncode for r in diffs] == [0, 0, 0], [r.stderr for r in diffs]
    changes = json.loads(diffs[1].stdout)["update"][0]["changes"]["job_variables"]
    assert changes["to"]["env"]["DB_PASSWORD"] == secrets.MASK
    outputs += diffs

    # A value the pool's template refuses next to the secrets: the error line is clean.
    # The password as a list: the refusal quotes the invalid value, secret and all. (The
    # server would answer 422 quoting it too; the template check now refuses it first.)
    env = {**V2, "DB_PASSWORD": [V2["DB_PASSWORD"]]}
    bad = infra(V2) + f", job_variables={{'env': {env!r}}}"
    project.write_flows(2, 1, extra=bad)
    failed = project.run("deploy", "--env", "test", "--output", "markdown", PREFECT_API_KEY=API_KEY)
    assert failed.returncode == 1
    *lines, summary = error_lines(failed.stderr)  # then the partial-load line
    assert lines and all("job_variables.env" in line for line in lines), lines
    assert secrets.MASK in lines[0], lines  # the quoted value, masked
    assert "did not load and were not deployed" in summary, summary
    outputs.append(failed)
    project.write_flows(2, 1, extra=infra(V2))
    outputs.append(project.run("deploy", "--env", "test", PREFECT_API_KEY=API_KEY))
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    assert_no_secret(outputs)


def test_masking_rules() -> None:
    value = {"env": {"DB_PASSWORD": "p4ssw0rd!", "aws_access_key": "AKIA1234", "MONKEY": "ok"}}
    masked = secrets.mask(value)
    assert masked == {"env": {"DB_PASSWORD": "****", "aws_access_key": "****", "MONKEY": "ok"}}
    assert value["env"]["DB_PASSWORD"] == "p4ssw0rd!", "the value sent is not changed"
    assert secrets.scrub("server said: bad value 'p4ssw0rd!'") == "server said: bad value '****'"


PASSWORD = AUTH_STRING.split(":", 1)[1]
MARKED = """
from prefect import flow

from flowfleet import DeploymentConfig
from {package} import registry


@registry(DeploymentConfig(name="nightly[red]", cron="0 4 * * *", description="see [/] and [b]"))
@flow(name="{flow}")
def marked() -> None:
    pass
"""


def with_credentials(api_url: str, auth: str = AUTH_STRING) -> str:
    return api_url.replace("http://", f"http://{auth}@", 1)


def test_a_password_in_the_api_url_is_never_printed_or_written(
    auth_server: LocalServer, tmp_path: Path
) -> None:
    """`PREFECT_API_URL=http://admin:<password>@host/api` against a basic-auth server."""
    project = DiskProject(tmp_path / "p", auth_server.api_url, flows=2, per_flow=1)
    marked = f"backfill[bold]-x-{project.uid}"
    (project.site / project.package / "marked.py").write_text(
        MARKED.format(package=project.package, flow=marked)
    )
    cache = tmp_path / "cache"
    url = with_credentials(auth_server.api_url)
    env = {"PREFECT_API_URL": url, "FLOWFLEET_NO_CACHE": "", "FLOWFLEET_CACHE_DIR": str(cache)}

    def run(*args: str, **extra: str):
        return project.run(*args, **{**env, **extra})

    def run_all(*commands: tuple[str, ...]) -> list:
        with ThreadPoolExecutor(max_workers=3) as pool:
            return list(pool.map(lambda c: run(*c), commands))

    outputs = [run("pools", "--env", "test")]
    assert outputs[0].returncode == 0, outputs[0].stderr
    outputs += run_all(
        ("list", "--env", "test"),
        ("list", "--env", "test", "--output", "json"),
        ("plan", "--env", "test"),
        ("plan", "--env", "test", "--output", "json"),
        ("plan", "--env", "test", "--output", "markdown"),
        ("plan", "--env", "test", "--output", "github"),
    )
    assert [r.returncode for r in outputs] == [0] * 7, [r.stderr for r in outputs]
    listed, planned_table, planned = outputs[1].stdout, outputs[3].stdout, outputs[4].stdout
    # The credential is what reached the server: the plan read it through basic auth.
    assert json.loads(planned)["api_url"] == with_credentials(auth_server.api_url, "admin:****")
    assert f"({with_credentials(auth_server.api_url, 'admin:****')})" in planned_table
    # A name with Rich markup is shown as written, in the list and in the plan.
    for text in (listed, planned_table):
        assert f"{marked}/nightly[red]" in text, text

    deployed = run("deploy", "--env", "test", "--output", "json")
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["api_url"].startswith("http://admin:****@")
    outputs.append(deployed)
    name = f"{project.flow_name(0)}/d0"
    outputs += run_all(
        ("render", name, "--env", "test", "--output", "json", "--template", "server"),
        ("run", f"{marked}/nightly[red]", "--env", "test"),  # found by its name as written
    )
    assert [r.returncode for r in outputs[-2:]] == [0] * 2, [r.stderr for r in outputs[-2:]]
    assert f"of {marked}/nightly[red]: Scheduled" in outputs[-1].stdout

    project.write_flows(1, 1)  # the second flow is gone: prune deletes its deployment
    pruned = run("prune", "--env", "test", "--output", "json")
    assert pruned.returncode == 0, pruned.stderr
    assert [r["status"] for r in json.loads(pruned.stdout)["results"]] == ["deleted"]
    outputs.append(pruned)

    # Error lines: a server that is not there, and a password the server refuses.
    gone = with_credentials(f"http://127.0.0.1:{free_port()}/api")
    refused = with_credentials(auth_server.api_url, "admin:wrong-pass-7781")
    failing = [
        ("plan", "--env", "test"),
        ("deploy", "--env", "test", "--output", "json"),
        ("pools", "--env", "test"),
        ("prune", "--env", "test", "--output", "markdown"),
        ("run", name, "--env", "test"),
        ("render", name, "--env", "test", "--template", "server"),
    ]
    for bad_url in (gone, refused):
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = list(pool.map(lambda c, u=bad_url: run(*c, PREFECT_API_URL=u), failing))
        for result in results:
            assert result.returncode == 1, (result.args, result.stdout, result.stderr)
            assert error_lines(result.stderr), (result.args, result.stderr)
            assert "admin:****@" in result.stderr, (result.args, result.stderr)
            assert "Traceback" not in result.stderr
        outputs += results

    for result in outputs:
        text = result.stdout + result.stderr
        for secret in (PASSWORD, "wrong-pass-7781"):
            assert secret not in text, f"{secret!r} printed by {result.args[3:]}:\n{text}"
    written = [p for p in cache.rglob("*") if p.is_file()]
    assert written, "the cache wrote nothing: the check below would prove nothing"
    for path in written:
        assert PASSWORD not in path.read_text(errors="replace"), path
