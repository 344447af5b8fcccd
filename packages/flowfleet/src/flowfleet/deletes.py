"""The one prune path, shared by `prune` and branch cleanup: read the server, let a pure
plan pick the deletes, apply only those and the automations that run the deleted
deployments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowfleet.apply import Report, apply_plan
from flowfleet.automation_apply import apply_automations
from flowfleet.automation_plan import orphaned
from flowfleet.observed import ServerState, read_state
from flowfleet.plan import Change, Plan


async def apply_deletes(
    api_url: str,
    environment: str,
    project: str,
    choose: Callable[[ServerState], list[Change]],
    *,
    client: Any,
    read: Callable[[Any], Any] | None = None,
) -> Report:
    """The one prune path: read the server, let `choose` pick the deletes (a pure plan),
    apply only those, and the automations that run them. Used by `prune` and by branch
    cleanup."""
    async with client as active:
        state = await (read(active) if read else read_state(active, api_url))
        only_deletes = Plan(
            environment=environment, project=project, api_url=api_url, delete=choose(state)
        )
        deleted = {c.deployment_id for c in only_deletes.delete}
        only_deletes.automations.delete = orphaned(state.automations, deleted, project, environment)
        report = await apply_plan(only_deletes, {}, ServerState(api_url), active)
        await apply_automations(only_deletes.automations, state, active, report)
        return report
