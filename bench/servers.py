"""The Prefect server under test: SQLite (default) or PostgreSQL 15, reset to empty on demand.

The first start migrates a new database, which is then kept as an empty
template. A reset stops the Prefect server, replaces its database with a copy
of that template (SQLite: the file; PostgreSQL: CREATE DATABASE ... TEMPLATE)
and starts the server again. Every "first deploy" so starts from the same
empty, migrated server; the caller then creates the work pools.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from flowfleet.devpostgres import PG_TEMPLATE, Postgres
from flowfleet.devserver import HOST, LocalServer, free_port, start_server


class BenchServer:
    """One Prefect server for the whole run; `reset()` gives an empty database."""

    def __init__(self, home: Path, db: str = "sqlite", log=print, services: bool = True):
        self.home = home
        self.db = db
        self.services = services  # off: no scheduler filling runs beside the writes
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
            services=self.services,
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
