"""Apply the automations part of a plan, after the deployments (the bodies need their ids).

Writes go through flowfleet's one client: `POST /automations/` to create (with the
owning deployment as `owner_resource`), `PUT /automations/{id}` to update (Prefect's
`AutomationUpdate` takes no owner), `DELETE /automations/{id}` to delete. Each result
joins the deploy report as `automation <name>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowfleet.apply import Outcome, Report
from flowfleet.automation_plan import AutomationChange, AutomationPlan
from flowfleet.client import send_write
from flowfleet.errors import describe_error
from flowfleet.observed import ServerState, read_server_state

PREFIX = "automation "


async def apply_automations(
    plan: AutomationPlan,
    state: ServerState,
    client: Any,
    report: Report,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> None:
    """Write the plan's automation changes; skipped when the deployments' apply stopped."""

    def record(change: AutomationChange, status: Any, details: str = "") -> None:
        outcome = Outcome(full_name=PREFIX + change.full_name, status=status, details=details)
        report.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    for change in plan.unchanged:
        record(change, "unchanged")
    writes = plan.create + plan.update
    if report.aborted:
        for change in writes + plan.delete:
            record(change, "skipped", "not attempted: the deployments' apply stopped")
        return
    ids = await _deployment_ids(plan, writes, state, client)
    failed = {o.full_name for o in report.failed}
    for change in plan.delete:
        path = f"/automations/{change.automation_id}"
        await _attempt(report, record, change, "deleted", lambda p=path: _delete(client, p))
    for change in writes:
        want = plan.desired[change.full_name]
        missing = sorted(n for n in want.references() if n not in ids or n in failed)
        if missing:
            record(change, "failed", f"deployment {', '.join(missing)} was not written")
            continue
        body = want.body(ids, plan.tags[change.full_name])
        if change.action == "create":
            send = lambda b=body: send_write(client, "POST", "/automations/", json=b)  # noqa: E731
            await _attempt(report, record, change, "created", send)
        else:
            body.pop("owner_resource", None)
            path = f"/automations/{change.automation_id}"
            send = lambda b=body, p=path: send_write(client, "PUT", p, json=b)  # noqa: E731
            await _attempt(report, record, change, "updated", send, ", ".join(change.changes))


async def _deployment_ids(
    plan: AutomationPlan, writes: list[AutomationChange], state: ServerState, client: Any
) -> dict[str, str]:
    """Deployment full name -> id; read again when the apply just created some."""
    ids = {name: d.id for name, d in state.deployments.items()}
    needed = {n for c in writes for n in plan.desired[c.full_name].references()}
    if needed - set(ids):
        fresh = await read_server_state(client, state.api_url)
        ids.update({name: d.id for name, d in fresh.deployments.items()})
    return ids


async def _delete(client: Any, path: str) -> Any:
    response = await client.request("DELETE", path)
    if response.status_code != 404:  # already gone is what we wanted
        response.raise_for_status()
    return response


async def _attempt(
    report: Report,
    record: Callable[..., None],
    change: AutomationChange,
    done: str,
    send: Callable[[], Any],
    details: str = "",
) -> None:
    try:
        report.writes += 1
        await send()
    except Exception as exc:
        record(change, "failed", describe_error(exc, report.api_url))
    else:
        record(change, done, details or (change.reason or ""))
