"""Why `version_info` is refused: the Prefect server takes it and keeps none of it."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prefect.client.schemas.actions import DeploymentCreate
from prefect.client.schemas.objects import VersionInfo

from flowfleet.devserver import LocalServer

pytestmark = pytest.mark.server


def test_the_server_drops_version_info(prefect_server: LocalServer) -> None:
    """If this fails, the server now stores `version_info`: accept and compare it
    (acceptance.py refuses it today, config.VersionInfo types it)."""
    with httpx.Client(base_url=prefect_server.api_url) as client:
        flow = client.post("/flows/", json={"name": f"version-info-{uuid.uuid4().hex[:8]}"})
        body = DeploymentCreate(
            name="default",
            flow_id=flow.json()["id"],
            version="4f2c1e0",
            version_info=VersionInfo(type="git", version="4f2c1e0", branch="main"),
        ).model_dump(mode="json", exclude_unset=True)
        assert body["version_info"]["type"] == "git"  # sent
        created = client.post("/deployments/", json=body)
        assert created.status_code == 201, created.text  # accepted
        read = client.get(f"/deployments/{created.json()['id']}").json()
    assert read["version"] == "4f2c1e0"
    assert read.get("version_info") is None  # and gone
