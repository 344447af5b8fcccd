"""A local Prefect server on loopback: for `make demo`, `make server`, tests and benchmarks.

It runs `prefect server start` as a child process with its own PREFECT_HOME, so
its SQLite database (or the PostgreSQL URL given) never touches the user's profile.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class LocalServer:
    port: int
    home: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def stop(self, timeout: float = 20) -> None:
        """Stop the server this object started (its whole process group), and only it."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def server_environment(
    home: Path, database_url: str | None = None, settings: dict[str, str] | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        PREFECT_API_DATABASE_CONNECTION_URL=database_url
        or f"sqlite+aiosqlite:///{home / 'prefect.db'}",
    )
    env.update(settings or {})
    return env


def migrated_sqlite(path: Path, timeout: float = 300) -> Path:
    """An empty SQLite database at Prefect's current schema, with Prefect's block types
    registered by one real server start, made once at `path`.

    A server started on a copy skips Prefect's migrations and its block registration
    (`TEMPLATE_SETTINGS`). On this project's 2-core machine the migrations took a
    server from 6 to 11.5 s of CPU to healthy; registering the block types again took
    it from 3.0-3.1 s to 5.1-5.5 s (two starts each, alternating). Processes sharing
    `path` (test workers) take turns under a file lock, so it is made once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            partial.unlink(missing_ok=True)
            home, url = path.parent / "template-home", f"sqlite+aiosqlite:///{partial}"
            subprocess.run(
                [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                env=server_environment(home, url),
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            server = launch_server(home, services=False, database_url=url)
            try:
                wait_until_healthy(server, timeout)  # healthy: its block types are in
            finally:
                server.stop()
            # Into the file itself: a stopped server can leave its writes in the WAL.
            with contextlib.closing(sqlite3.connect(partial)) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            os.replace(partial, path)
    return path


# A server on a copy of the template: its block types are already in the database, so
# it neither imports every Prefect collection to list them nor writes them again.
TEMPLATE_SETTINGS = {
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
    "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}


class ServerStartError(RuntimeError):
    """The server exited or never became healthy; `log_path` holds its output."""

    def __init__(self, reason: str, log_path: Path) -> None:
        super().__init__(f"{reason}; see {log_path}:\n" + _tail(log_path))
        self.reason = reason
        self.log_path = log_path


def start_server(
    home: Path,
    port: int | None = None,
    *,
    database_url: str | None = None,
    services: bool = True,
    ui: bool = False,
    settings: dict[str, str] | None = None,
    timeout: float = 90,
    sqlite_template: Path | None = None,
) -> LocalServer:
    """Start a server and wait until `/api/health` answers; raise with the log tail if not.

    `sqlite_template` (from `migrated_sqlite`) seeds a new SQLite database, so the
    server starts without running Prefect's migrations.
    """
    server = launch_server(
        home,
        port,
        database_url=database_url,
        services=services,
        ui=ui,
        settings=settings,
        sqlite_template=sqlite_template,
    )
    wait_until_healthy(server, timeout)
    return server


def launch_server(
    home: Path,
    port: int | None = None,
    *,
    database_url: str | None = None,
    services: bool = True,
    ui: bool = False,
    settings: dict[str, str] | None = None,
    sqlite_template: Path | None = None,
) -> LocalServer:
    """Start `prefect server start` in its own session (process group) without waiting."""
    home.mkdir(parents=True, exist_ok=True)
    database = home / "prefect.db"
    if sqlite_template and database_url is None:
        if not database.exists():  # a restart keeps its own database
            shutil.copyfile(sqlite_template, database)
        settings = {**TEMPLATE_SETTINGS, **(settings or {})}
    server = LocalServer(port or free_port(), home)
    command = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        HOST,
        "--port",
        str(server.port),
        "--ui" if ui else "--no-ui",
    ]
    if not services:
        command.append("--no-services")
    with server.log_path.open("ab") as log:
        server.process = subprocess.Popen(
            command,
            env=server_environment(home, database_url, settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return server


def wait_until_healthy(
    server: LocalServer, timeout: float = 90, on_wait: Callable[[float], None] | None = None
) -> None:
    """Wait for `/api/health`; stop the server and raise `ServerStartError` if it never answers.

    `on_wait(elapsed_seconds)` is called on every poll, for progress output.
    """
    assert server.process is not None
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < timeout:
            if server.process.poll() is not None:
                raise ServerStartError("the Prefect server exited early", server.log_path)
            if is_healthy(server.api_url):
                return
            if on_wait:
                on_wait(elapsed)
            time.sleep(0.25)
    except BaseException:
        server.stop()
        raise
    server.stop()
    raise ServerStartError(
        f"the Prefect server was not healthy after {timeout:.0f}s", server.log_path
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
