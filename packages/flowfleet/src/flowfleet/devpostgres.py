"""A throwaway PostgreSQL 15 cluster on loopback, for tests and benchmarks.

Production self-hosted Prefect runs on PostgreSQL; the test suite and `bench/`
run a real one. PostgreSQL refuses to run as root, so under root a dedicated
system user is created once (`useradd`) and every command runs through `runuser`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from flowfleet.devserver import HOST, free_port

PG_USER = "flowfleet-pg"
PG_DB = "prefect"
PG_TEMPLATE = "prefect_empty"


class Postgres:
    """A throwaway PostgreSQL cluster on loopback, run by a non-root user."""

    def __init__(self, home: Path):
        """`home` and its parents must be searchable by the user that runs PostgreSQL."""
        self.home = home
        self.data = home / "pgdata"
        self.port = free_port()
        self.user = _run_as_user()

    def _as_user(self, *command: str) -> list[str]:
        if self.user is None:
            return list(command)
        return ["runuser", "-u", self.user, "--", *command]

    def _bin(self, name: str) -> str:
        found = shutil.which(name) or next(
            (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
        )
        if not found:
            raise FileNotFoundError(f"{name} not found: install PostgreSQL 15's server binaries")
        return found

    def start(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.data.mkdir()
        if self.user:
            shutil.chown(self.data, self.user, self.user)
            os.chmod(self.home, 0o755)
        subprocess.run(
            self._as_user(
                self._bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            self._as_user(
                self._bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.data / "postgres.log"),
                "-o",
                f"-p {self.port} -c listen_addresses={HOST} -k {self.data}",
                "-w",
                "start",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.recreate()

    def psql(self, sql: str) -> None:
        subprocess.run(
            [
                self._bin("psql"),
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-q",
                "-c",
                sql,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def recreate(self, template: str | None = None) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        self.psql(f"CREATE DATABASE {PG_DB}" + (f" TEMPLATE {template}" if template else ""))

    def save_template(self) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {PG_TEMPLATE}")
        self.psql(f"CREATE DATABASE {PG_TEMPLATE} TEMPLATE {PG_DB}")

    @property
    def url(self) -> str:
        return self.database_url(PG_DB)

    def database_url(self, name: str) -> str:
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """A new empty database in this cluster; returns its SQLAlchemy URL."""
        self.psql(f"CREATE DATABASE {name}")
        return self.database_url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(
                self._as_user(
                    self._bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )


def _run_as_user() -> str | None:
    """Root cannot run PostgreSQL: use (and if needed create) a dedicated user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_USER], check=True)
    return PG_USER
