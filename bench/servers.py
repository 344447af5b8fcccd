"""The Prefect server under test: SQLite (default) or PostgreSQL 15, reset to empty on demand.

The first start migrates a new database, which is then kept as an empty
template. A reset stops the Prefect server, replaces its database with a copy
of that template (SQLite: the file; PostgreSQL: CREATE DATABASE ... TEMPLATE)
and starts the server again. Every "first deploy" so starts from the same
empty, migrated server; the caller then creates the work pools.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from flowfleet.devserver import HOST, LocalServer, free_port, start_server

PG_USER = "flowfleet-bench"
PG_DB = "prefect"
PG_TEMPLATE = "prefect_empty"


class Postgres:
    """A throwaway PostgreSQL cluster on loopback, run by a non-root user."""

    def __init__(self, home: Path):
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
            raise RuntimeError(f"{name} not found: install PostgreSQL 15 for --db postgres")
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
                "psql",
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
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/{PG_DB}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(
                self._as_user(self._bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"),
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


class BenchServer:
    """One Prefect server for the whole run; `reset()` gives an empty database."""

    def __init__(self, home: Path, db: str = "sqlite", log=print):
        self.home = home
        self.db = db
        self.log = log
        self.port = free_port()
        self.postgres = Postgres(home / "pg") if db == "postgres" else None
        self.server: LocalServer | None = None

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    @property
    def sqlite(self) -> Path:
        return self.home / "prefect" / "prefect.db"

    def start(self) -> None:
        """Start once on a new database (migrations run), keep that empty database as the
        template every reset copies, and start again."""
        if self.postgres:
            self.postgres.start()
        else:  # never inherit a database from an earlier (interrupted) run
            self._drop_sqlite()
        self._start_prefect()
        self.server.stop()
        if self.postgres:
            self.postgres.save_template()
        else:
            shutil.copy(self.sqlite, self.template)
        self.reset()

    @property
    def template(self) -> Path:
        return self.home / "empty-migrated.db"

    def _start_prefect(self) -> None:
        url = self.postgres.url if self.postgres else None
        started = time.perf_counter()
        self.server = start_server(
            self.home / "prefect",
            self.port,
            database_url=url,
            timeout=180,
            settings={"PYTHONDONTWRITEBYTECODE": ""},  # empty means unset: keep .pyc files
        )
        self.log(f"prefect server up on {self.api_url} in {time.perf_counter() - started:.1f}s")

    def reset(self) -> None:
        """Stop, drop the database, start: an empty server (work pools are made by the caller)."""
        if self.server:
            self.server.stop()
        if self.postgres:
            self.postgres.recreate(PG_TEMPLATE)
        else:
            self._drop_sqlite()
            shutil.copy(self.template, self.sqlite)
        self._start_prefect()

    def _drop_sqlite(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.sqlite}{suffix}").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        if self.postgres:
            self.postgres.stop()
