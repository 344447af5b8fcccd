"""dev and prod on one Prefect server: name patterns keep them apart, prune stays per env."""

from __future__ import annotations

import pytest

from deploy_fleet import DeployFleet

pytestmark = pytest.mark.server


def share_one_server(fleet: DeployFleet, pattern: str = "{name}-{env}") -> None:
    for env in ("test", "other"):
        path = fleet.workspace.environments_dir / f"{env}.toml"
        path.write_text(f'deployment_name = "{pattern}"\n' + path.read_text())


# PostgreSQL: what a self-hosted server shared by dev and prod runs on.
@pytest.mark.parametrize("db_server", ["postgresql"], indirect=True)
def test_two_environments_deploy_side_by_side_and_prune_only_their_own(db_server, tmp_path):
    fleet = DeployFleet(tmp_path, db_server.api_url)
    fleet.add("etl")
    fleet.add("sync")
    # Without a pattern, the second environment meets the first one's deployments.
    fleet.deploy(env="test")
    planned, report = fleet.deploy(env="other")
    assert report is None and len(planned.conflicts) == 2
    reason = planned.conflicts[0].reason or ""
    assert "managed by environment 'test'" in reason
    assert 'set deployment_name = "{name}-{env}" in infra/environments/other.toml' in reason

    share_one_server(fleet)
    for env in ("test", "other"):
        planned, report = fleet.deploy(env=env, prune=True)  # test's old names are pruned
        assert report is not None and report.ok and not planned.conflicts, env
    etl, sync = fleet.flow_name("etl"), fleet.flow_name("sync")
    both = {f"{flow}/default-{env}" for flow in (etl, sync) for env in ("test", "other")}
    assert set(fleet.server_deployments()) == both

    fleet.remove("sync")
    planned, report = fleet.deploy(env="test", prune=True)
    assert [c.full_name for c in planned.delete] == [f"{sync}/default-test"]
    assert report.ok
    assert set(fleet.server_deployments()) == both - {f"{sync}/default-test"}
    planned = fleet.plan(env="other", prune=True)
    assert [c.full_name for c in planned.delete] == [f"{sync}/default-other"]
    assert [c.full_name for c in planned.unchanged] == [f"{etl}/default-other"]
