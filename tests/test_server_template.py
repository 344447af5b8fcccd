"""The suite's SQLite servers start on a copy of one template database, which holds
Prefect's migrations and block types, so they skip both (`devserver.TEMPLATE_SETTINGS`).

The check: a server on a copy that registers the block types again at start, as a
fresh server does, ends up with exactly the block types and schemas the session server
(no registration at start) has.
"""

from __future__ import annotations

import httpx
import pytest

from conftest import own_server
from flowfleet.devserver import TEMPLATE_SETTINGS, LocalServer

pytestmark = pytest.mark.server


def block_catalogue(server: LocalServer) -> tuple[set[str], set[str]]:
    with httpx.Client(base_url=server.api_url, timeout=30) as client:
        types = client.post("/block_types/filter", json={}).raise_for_status().json()
        schemas = client.post("/block_schemas/filter", json={}).raise_for_status().json()
    return {t["slug"] for t in types}, {s["checksum"] for s in schemas}


def test_registering_the_block_types_again_at_start_changes_nothing(
    prefect_server: LocalServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    register_again = {name: "true" for name in TEMPLATE_SETTINGS}
    with own_server(tmp_path_factory, "registers-again", settings=register_again) as server:
        fresh = block_catalogue(server)
    from_template = block_catalogue(prefect_server)
    slugs, checksums = from_template
    assert {"custom-webhook", "aws-credentials", "secret"} <= slugs  # core and prefect-aws
    assert from_template == fresh
