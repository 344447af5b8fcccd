"""The run's migrated empty SQLite database, which every SQLite server the suite starts copies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowfleet.devserver import migrated_sqlite

# A fresh server's migrations took 99 s on the shared 2 cores under load.
MIGRATE_TIMEOUT = 240


def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's migrated empty SQLite database, made once and shared by the xdist
    workers (their temporary folders share a parent): every SQLite server the suite
    starts copies it instead of migrating a database of its own."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return migrated_sqlite(base / "sqlite-template" / "prefect.db", timeout=MIGRATE_TIMEOUT)
