"""Shared fixtures: a real Prefect server on loopback, and the CLI run as a user runs it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

import cli_zygote
from fleet_sandbox import Sandbox
from flowfleet.devserver import LocalServer, start_server
from sqlite_template import sqlite_template

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["server_kinds"]  # PostgreSQL, basic-auth and Cloud-shaped servers


@contextmanager
def own_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, **settings: object
) -> Iterator[LocalServer]:
    """A server of a test file's own (no services unless asked): what it writes, and what
    other tests write to the session server, cannot meet."""
    settings.setdefault("services", False)
    server = start_server(
        tmp_path_factory.mktemp(name),
        timeout=float(os.environ.get("FLOWFLEET_TEST_SERVER_TIMEOUT", "300")),
        sqlite_template=sqlite_template(tmp_path_factory),
        **settings,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One real server (SQLite) for the session; tests keep apart by project or env."""
    # A short scheduler loop, so tests can watch scheduled runs survive a redeploy.
    server = start_server(
        tmp_path_factory.mktemp("prefect-server"),
        settings={"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3"},
        # A shared, loaded machine can need more than the default 90 s to migrate.
        timeout=float(os.environ.get("FLOWFLEET_TEST_SERVER_TIMEOUT", "300")),
        sqlite_template=sqlite_template(tmp_path_factory),
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api_env(prefect_server: LocalServer, tmp_path: Path) -> dict[str, str]:
    """Process environment for a CLI run against the test server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_API_URL=prefect_server.api_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        FLOWFLEET_BRANCH="main",
    )
    return env


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    input: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run `flowfleet ARGS` in a process of its own, as a user would, and capture its output
    (forked from a warm interpreter: tests/cli_zygote.py)."""
    argv = ["-m", "flowfleet", *args]
    return cli_zygote.run(argv, env=env, cwd=cwd, input=input, timeout=timeout)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A throwaway in-process workspace (tests/fleet_sandbox.py), cleaned up afterwards."""
    box = Sandbox(tmp_path)
    try:
        yield box
    finally:
        box.close()


def git(cwd: Path, *args: str) -> str:
    """Run git in a test's own repository, with a throwaway identity."""
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


class WorkspaceCli:
    """Read-only `flowfleet` commands on the real workspace, each run once per session.

    A run costs an interpreter start and `import prefect` (about 4 s of CPU), and
    test_cli.py and test_kubernetes_plugin.py ask for the same `validate`, `list` and
    `plugins`; `start` runs several at once in the background.
    """

    def __init__(self, pool: ThreadPoolExecutor):
        self._pool = pool
        self._runs: dict[tuple[str, ...], Future[subprocess.CompletedProcess[str]]] = {}

    def start(self, *commands: tuple[str, ...]) -> None:
        for command in commands:
            if command not in self._runs:
                self._runs[command] = self._pool.submit(run_cli, *command)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.start(args)
        return self._runs[args].result()


@pytest.fixture(scope="session")
def workspace_cli() -> Iterator[WorkspaceCli]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield WorkspaceCli(pool)


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that uses the session server is a server test, marked or not."""
    if "prefect_server" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.server)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with `slow` tests first, then those with `server` tests, each file kept whole:
    `make test` hands files to its workers in this order (`--no-loadscope-reorder`), so the
    short files fill in at the end instead of one long file running alone."""
    rank: dict[Path, int] = {}
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        mine = 0 if "slow" in marks else 1 if "server" in marks else 2
        rank[item.path] = min(rank.get(item.path, 2), mine)
    items.sort(key=lambda item: rank[item.path])
