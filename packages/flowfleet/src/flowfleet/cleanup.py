"""Branch cleanup: delete the branch deployments of closed or vanished branches.

It needs no flow code: it selects by labels only, so a job that runs when a pull
request closes can use any checkout. It only ever deletes deployments that are
managed by this project, in this environment, and carry a `flowfleet.branch` label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flowfleet import deletes
from flowfleet.apply import Report
from flowfleet.client import ApiClient
from flowfleet.connection import api_url_for
from flowfleet.observed import ServerState
from flowfleet.plan import Change, Plan
from flowfleet.problems import FlowfleetError, Problem
from flowfleet.session import Session


def cleanup_plan(
    state: ServerState, *, project: str, environment: str, select: Callable[[str], bool]
) -> Plan:
    """Deletes for the branch deployments whose branch `select` picks. Pure."""
    plan = Plan(environment=environment, project=project, api_url=state.api_url)
    for have in sorted(state.deployments.values(), key=lambda d: d.full_name):
        if not have.managed_by(project) or have.environment != environment:
            continue
        if have.branch and select(have.branch):
            plan.delete.append(Change.deletion(have, f"branch '{have.branch}'"))
    return plan


def stale_selector(live: Iterable[str], default_branch: str) -> Callable[[str], bool]:
    """Pick branches not in `live`; refuse a list that cannot be the whole truth."""
    live = set(live)
    if not live:
        raise FlowfleetError(
            Problem(
                "refusing to prune stale branches: the list of live branches is empty, "
                "so every branch deployment would look stale",
                fix="give the live branch names, one per line",
            )
        )
    if default_branch not in live:
        raise FlowfleetError(
            Problem(
                f"refusing to prune stale branches: the live branches do not include the "
                f"default branch '{default_branch}', so the list looks wrong or partial",
                fix="list every live branch (e.g. `git ls-remote --heads origin`)",
            )
        )
    return lambda branch: branch not in live


async def prune_branches(
    session: Session, env: str, select: Callable[[str], bool], *, client: Any = None
) -> Report:
    """Delete this project's branch deployments in `env` whose branch `select` picks."""
    api_url = api_url_for(session.environment(env))
    project = session.workspace.project

    def choose(state: ServerState) -> list[Change]:
        return cleanup_plan(state, project=project, environment=env, select=select).delete

    return await deletes.apply_deletes(
        api_url, env, project, choose, client=client or ApiClient(api_url)
    )
