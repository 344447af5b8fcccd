"""Every command against the kinds of server users run: basic auth, Cloud-shaped, a profile.

The servers come from tests/server_kinds.py; PostgreSQL runs through the
deploy-engine, safety and fault tests (`@BOTH_DATABASES`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import cli_zygote
from conftest import ROOT, run_cli
from disk_project import LAUNCHER, DiskProject, error_lines
from flowfleet.devserver import LocalServer, free_port, start_server
from server_kinds import AUTH_STRING, START_TIMEOUT, CloudGateway
from snapshots import snapshot
from sqlite_template import sqlite_template

pytestmark = pytest.mark.server

KEY = "pnu_cloudshapedtestkey0123456789"


# ------------------------------------------------------------------------ basic auth

COMMANDS = [
    ("pools", "--env", "test"),
    ("plan", "--env", "test"),
    ("deploy", "--env", "test"),
    ("prune", "--env", "test"),
    ("prune", "--env", "test", "--branch", "feature-x"),
]


def test_every_command_works_with_the_auth_string_and_names_it_when_refused(
    auth_server: LocalServer, tmp_path: Path
) -> None:
    project = DiskProject(tmp_path / "auth", auth_server.api_url, flows=2, per_flow=2)
    for command in COMMANDS:
        done = project.run(*command, PREFECT_API_AUTH_STRING=AUTH_STRING)
        assert done.returncode == 0, (command, done.stdout + done.stderr)
    assert f"Prefect API: {auth_server.api_url} (from PREFECT_API_URL" in done.stderr
    on_server = snapshot_with_auth(auth_server.api_url)
    assert {n for n in on_server if project.uid in n} == project.full_names(2, 2)

    for command in COMMANDS:
        refused = project.run(*command, PREFECT_API_AUTH_STRING="admin:wrong")
        assert refused.returncode == 1, (command, refused.stdout + refused.stderr)
        assert "Traceback" not in refused.stderr
        [line] = error_lines(refused.stderr)
        assert "401" in line and "PREFECT_API_AUTH_STRING" in line, (command, line)
        assert "admin:wrong" not in refused.stdout + refused.stderr
    missing = project.run("plan", "--env", "test")
    [line] = error_lines(missing.stderr)
    assert "401" in line and "no credentials were sent" in line, line
    assert "PREFECT_API_AUTH_STRING" in line


def snapshot_with_auth(api_url: str) -> set[str]:
    import httpx

    with httpx.Client(base_url=api_url, auth=tuple(AUTH_STRING.split(":")), timeout=30) as c:
        flows = {f["id"]: f["name"] for f in c.post("/flows/filter", json={}).json()}
        rows = c.post("/deployments/filter", json={}).json()
    return {f"{flows[d['flow_id']]}/{d['name']}" for d in rows}


# ---------------------------------------------------------------------- Cloud-shaped


@pytest.fixture(scope="module")
def cloud_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The real server behind the gateway: its own, so the example fleet meets nothing."""
    server = start_server(
        tmp_path_factory.mktemp("cloud-upstream"),
        services=False,
        timeout=START_TIMEOUT,
        sqlite_template=sqlite_template(tmp_path_factory),
    )
    try:
        yield server
    finally:
        server.stop()


def cloud_env(gateway: CloudGateway, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_API_URL=gateway.api_url,
        PREFECT_API_KEY=KEY,
        PREFECT_CLOUD_API_URL=gateway.base_url,  # as api.prefect.cloud is for Cloud
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        FLOWFLEET_BRANCH="main",
        FLOWFLEET_NO_CACHE="1",
    )
    env.update(extra)
    return env


def test_the_example_fleet_deploys_through_a_cloud_shaped_gateway(
    cloud_upstream: LocalServer, tmp_path: Path
) -> None:
    listed = run_cli("list", "--env", "dev", "--output", "json", env=cloud_env_plain(tmp_path))
    assert listed.returncode == 0, listed.stderr
    fleet = {d["full_name"] for d in json.loads(listed.stdout)}

    def throttle(method: str, path: str) -> bool:  # a read and a write, once each
        return path in ("/deployments/filter", "/deployments/")

    with CloudGateway(cloud_upstream.api_url, KEY, throttle=throttle) as gateway:
        env = cloud_env(gateway, tmp_path)
        pools = run_cli("pools", "--env", "dev", env=env)
        assert pools.returncode == 0, pools.stdout + pools.stderr
        started = time.monotonic()
        deployed = run_cli("deploy", "--env", "dev", env=env)
        elapsed = time.monotonic() - started
        output = deployed.stdout + deployed.stderr
        assert deployed.returncode == 0, output
        assert KEY not in output and KEY not in pools.stdout + pools.stderr
        assert f"Prefect API: {gateway.api_url} (from PREFECT_API_URL" in deployed.stderr
        assert gateway.csrf_requests == 0, "Prefect Cloud has CSRF off: never ask"
        # Each throttled request came back only after Retry-After said so.
        assert set(gateway.throttled) == {
            ("POST", "/deployments/filter"),
            ("POST", "/deployments/"),
        }
        for request, refused_at in gateway.throttled.items():
            waited = gateway.retried[request] - refused_at
            assert waited >= gateway.retry_after - 0.05, (request, waited)
        assert elapsed >= 2 * gateway.retry_after
        assert gateway.unauthorized == 0

        assert fleet and fleet <= set(snapshot(cloud_upstream.api_url).deployments)

        wrong = run_cli(
            "plan",
            "--env",
            "dev",
            env=cloud_env(gateway, tmp_path, PREFECT_API_KEY="pnu_wrongkey99"),
        )
        assert wrong.returncode == 1
        [line] = error_lines(wrong.stderr)
        assert "401" in line and "PREFECT_API_KEY" in line, line
        assert "pnu_wrongkey99" not in wrong.stdout + wrong.stderr


def cloud_env_plain(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), FLOWFLEET_BRANCH="main")
    return env


# ------------------------------------------------------------------------- profiles


def run_without_exports(project: DiskProject, *args: str) -> subprocess.CompletedProcess:
    """The CLI with no PREFECT_API_URL exported: only files and the profile can decide."""
    env = project.env()
    env.pop("PREFECT_API_URL")
    return cli_zygote.run(
        [str(LAUNCHER), "flowfleet-disk-project", *args], env=env, cwd=project.root, timeout=180
    )


def write_profile(home: Path, api_url: str) -> None:
    """A profile as `prefect config set` writes it: the server and its auth string."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "profiles.toml").write_text(
        f'active = "team"\n[profiles.team]\nPREFECT_API_URL = "{api_url}"\n'
        f'PREFECT_API_AUTH_STRING = "{AUTH_STRING}"\n'
    )


def test_a_profile_is_targeted_when_nothing_else_names_a_server(
    auth_server: LocalServer, tmp_path: Path
) -> None:
    prefect_server = auth_server  # the profile carries its auth string too
    project = DiskProject(tmp_path / "profile", prefect_server.api_url, flows=1, per_flow=1)
    env_file = project.root / "infra" / "environments" / "test.toml"
    env_file.write_text(env_file.read_text().replace(f'api_url = "{prefect_server.api_url}"\n', ""))
    home = project.root / "prefect-home"

    # Nothing names a server: refused, never an ephemeral or default one.
    refused = run_without_exports(project, "plan", "--env", "test")
    assert refused.returncode == 1
    [line] = error_lines(refused.stderr)
    assert "nothing names a server" in line and "PREFECT_API_URL" in line, line

    write_profile(home, prefect_server.api_url)
    pools = run_without_exports(project, "pools", "--env", "test")
    assert pools.returncode == 0, pools.stdout + pools.stderr
    planned = run_without_exports(project, "plan", "--env", "test", "--output", "json")
    assert planned.returncode == 0, planned.stderr
    assert AUTH_STRING not in planned.stdout + planned.stderr
    profile = home / "profiles.toml"
    assert (
        f"Prefect API: {prefect_server.api_url} (from Prefect profile 'team' ({profile}))"
        in planned.stderr
    )
    assert [c["full_name"] for c in json.loads(planned.stdout)["create"]] == [
        f"{project.flow_name(0)}/d0"
    ]

    # The environment file's api_url wins over the profile, and says so.
    elsewhere = f"http://127.0.0.1:{free_port()}/api"
    env_file.write_text(f'api_url = "{elsewhere}"\n' + env_file.read_text())
    pinned = run_without_exports(project, "plan", "--env", "test")
    assert pinned.returncode == 1
    assert f"Prefect API: {elsewhere} (from api_url in infra/environments/test.toml)" in (
        pinned.stderr
    )
    assert f"Prefect profile 'team' ({profile}) names {prefect_server.api_url}" in pinned.stderr
    [line] = error_lines(pinned.stderr)
    assert f"cannot reach the Prefect API at {elsewhere}" in line


def test_a_prod_deploy_of_the_example_fleet_refuses_without_a_named_server(tmp_path: Path):
    env = cloud_env_plain(tmp_path)
    done = run_cli("deploy", "--env", "prod", "--dry-run", env=env, cwd=ROOT)
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "no Prefect API URL for environment 'prod': nothing names a server" in line
