"""Safety on a shared server: what `test_deploy_engine.py` does not already cover.

Covered there: prune keeps unmanaged and other-environment deployments, taking over
a hand-made one needs --adopt, prune after a failed package import deletes nothing.
Here: two projects on one server, prune from an unrelated environment of the same
name, and prune after a plugin (not a package) failed to load.
"""

from __future__ import annotations

import asyncio

import pytest

from deploy_fleet import DeployFleet, WriteCounter
from flowfleet import desired as ownership
from flowfleet import engine, hookimpl
from flowfleet.problems import FlowfleetError
from server_kinds import BOTH_DATABASES

pytestmark = pytest.mark.server


def updated(fleet: DeployFleet) -> dict[str, str]:
    return {name: str(d.updated) for name, d in fleet.server_deployments().items()}


@BOTH_DATABASES
def test_two_projects_with_the_same_flow_names_never_overwrite_or_prune_each_other(
    db_server, tmp_path
):
    first = DeployFleet(tmp_path / "first", db_server.api_url)
    first.add("etl", cron="0 1 * * *")
    first.add("sync", cron="0 2 * * *")
    _, report = first.deploy()
    assert report.ok
    before = updated(first)

    second = DeployFleet(tmp_path / "second", db_server.api_url)
    second.uid = first.uid  # the same flow names, another project
    second.add("etl", cron="0 9 * * *")  # would overwrite first's etl
    second.add("own", cron="0 3 * * *")
    counter = WriteCounter()
    planned, report = second.deploy(counter=counter, prune=True)
    assert report is None and counter.writes == [], "a conflict blocks every write"
    [conflict] = planned.conflicts
    assert conflict.full_name == f"{first.flow_name('etl')}/default"
    assert f"managed by project '{first.project}'" in (conflict.reason or "")
    assert "pass --adopt" in (conflict.reason or "")
    assert planned.delete == [], "another project's deployments are never prune candidates"

    # Without the clash, the second project deploys and prunes only its own.
    second.remove("etl")
    _, report = second.deploy(prune=True)
    assert report.ok and {o.status for o in report.outcomes} == {"created"}
    after = updated(first)
    assert {k: after[k] for k in before} == before, "the first project was touched"
    assert after[f"{first.flow_name('own')}/default"]
    labels = first.server_deployments()[f"{first.flow_name('etl')}/default"].labels
    assert labels[ownership.PROJECT] == first.project


def test_same_names_in_another_environment_conflict_and_prune_leaves_them(prefect_server, tmp_path):
    fleet = DeployFleet(tmp_path, prefect_server.api_url)
    fleet.add("etl")
    fleet.deploy(env="test")
    before = updated(fleet)
    # The same deployment resolved for "other" meets test's on the server.
    counter = WriteCounter()
    planned, report = fleet.deploy(env="other", counter=counter, prune=True)
    assert report is None and counter.writes == []
    assert "managed by environment 'test'" in (planned.conflicts[0].reason or "")
    fleet.remove("etl")
    planned, report = fleet.deploy(env="other", prune=True)
    assert planned.delete == [] and updated(fleet) == before


class RaisingShelf:
    """A plugin whose registries hook raises: the load is partial."""

    @hookimpl
    def flowfleet_registries(self):
        raise RuntimeError("catalogue offline")


def test_prune_after_a_plugin_failed_to_load_deletes_nothing(prefect_server, tmp_path):
    fleet = DeployFleet(tmp_path, prefect_server.api_url)
    fleet.add("keep")
    fleet.add("gone")
    fleet.deploy()
    before = updated(fleet)
    fleet.remove("gone")

    target_of = fleet.target

    def partial_target(env: str = "test", branch: str | None = None):
        plugins = target_of.__globals__["load_plugins"](entry_point_group=None)
        plugins.register(fleet.registry, "team", "team-flows", "0")
        plugins.register(RaisingShelf(), "shelf", "shelf-plugin", "0")
        from flowfleet.engine import Target
        from flowfleet.session import Session

        return Target.load(env, Session(workspace=fleet.workspace, plugins=plugins), branch)

    with pytest.raises(FlowfleetError) as failure:
        partial = partial_target()
        asyncio.run(engine.deploy(partial, prune=True))
    assert "plugin 'shelf' raised in flowfleet_registries" in str(failure.value)
    with pytest.raises(FlowfleetError):
        asyncio.run(engine.prune(partial_target()))
    assert updated(fleet) == before
