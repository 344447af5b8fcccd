"""Write the declared pools' plan rows: before any deployment, since deployments need them.

An update lays the declared parts over the template the server holds (the variables'
defaults; or, with a template file, the file), so nothing undeclared is lost. Bodies
are built with Prefect's own schemas. Queues are written in priority order: the server
renumbers the others when a priority is taken, and this order lets it settle as declared.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flowfleet.apply import Outcome
from flowfleet.changes import PoolChange
from flowfleet.client import send_write
from flowfleet.errors import describe_error, server_unavailable
from flowfleet.pool_plan import pool_path
from flowfleet.pool_spec import MARKER, PoolSpec, QueueSpec, marker
from flowfleet.problems import FlowfleetError


async def apply_pools(
    client: Any,
    rows: list[PoolChange],
    wanted: dict[str, PoolSpec],
    observed: dict[str, PoolSpec],
    *,
    project: str,
    environment: str,
    api_url: str,
) -> list[Outcome]:
    """One outcome per declared pool (`work pool <name>`); a server that is gone stops all."""
    outcomes = []
    for row in rows:
        label = f"work pool {row.name}"
        if row.action in ("unchanged", "conflict"):
            status = "unchanged" if row.action == "unchanged" else "skipped"
            outcomes.append(Outcome(full_name=label, status=status, details=row.reason or ""))
            continue
        want, have = wanted[row.name], observed.get(row.name)
        try:
            if have is None:
                await _create(client, want, marker(project, environment))
            else:
                await _update(client, want, have, row, marker(project, environment))
            details = f"type {want.type}" if have is None else ", ".join(row.changes)
            status = "created" if have is None else "updated"
            outcomes.append(Outcome(full_name=label, status=status, details=details))
        except Exception as exc:
            if server_unavailable(exc):
                raise FlowfleetError(f"work pools: {describe_error(exc, api_url)}") from None
            outcomes.append(
                Outcome(full_name=label, status="failed", details=describe_error(exc, api_url))
            )
    return outcomes


async def _create(client: Any, want: PoolSpec, owner: str) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate

    body = WorkPoolCreate(
        name=want.name,
        type=want.type,
        base_job_template=want.base_job_template,
        concurrency_limit=want.concurrency_limit,
        description=owner,
    )
    await send_write(client, "POST", "/work_pools/", json=_json(body))
    await _queues(client, want, {})


async def _update(client: Any, want: PoolSpec, have: PoolSpec, row: PoolChange, owner: str) -> None:
    from prefect.client.schemas.actions import WorkPoolUpdate

    settings = want.settings
    assert settings is not None  # only declared pools are planned
    fields: dict[str, Any] = {}
    if any(k == "job_configuration" or k.startswith("variables.") for k in row.changes):
        base = None if settings.template_content is not None else have.base_job_template
        fields["base_job_template"] = settings.merged_template(base)
    if "concurrency_limit" in row.changes:
        fields["concurrency_limit"] = settings.concurrency_limit
    if "owner" in row.changes:
        fields["description"] = _described(have.description, owner)
    if fields:
        await send_write(
            client, "PATCH", pool_path(want.name), json=_json(WorkPoolUpdate(**fields))
        )
    await _queues(client, want, have.queues)


async def _queues(client: Any, want: PoolSpec, have: dict[str, QueueSpec]) -> None:
    from prefect.client.schemas.actions import WorkQueueCreate, WorkQueueUpdate

    order = sorted(want.queues.items(), key=lambda item: (item[1].priority or 10**6, item[0]))
    for name, queue in order:
        declared = queue.model_dump(exclude_none=True)
        found = have.get(name)
        if found is None:
            body = _json(WorkQueueCreate(name=name, **declared))
            await send_write(client, "POST", f"{pool_path(want.name)}/queues", json=body)
        elif any(getattr(found, k) != v for k, v in declared.items()):
            body = _json(WorkQueueUpdate(**declared))
            path = f"{pool_path(want.name)}/queues/{quote(name, safe='')}"
            await send_write(client, "PATCH", path, json=body)


def _described(description: str | None, owner: str) -> str:
    """The description with this owner's marker: the user's text kept, another's marker replaced."""
    kept = (description or "").strip()
    if MARKER.search(kept):
        return MARKER.sub(owner, kept)
    return f"{kept}\n\n{owner}" if kept else owner


def _json(body: Any) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_unset=True)
