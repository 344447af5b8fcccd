"""Read a live server's deployments into `ExistingDeployment` records.

Reads go through flowfleet's own plain-HTTP reader and paging, like `plan`'s.
Deployments this project already manages are left out: their code exists.
"""

from __future__ import annotations

import asyncio
from typing import Any

from flowfleet import desired as ownership
from flowfleet.client import ApiClient
from flowfleet.importer.existing import ExistingDeployment, ExistingSchedule
from flowfleet.importer.triggers import from_automation
from flowfleet.observed import plain_description
from flowfleet.paging import read_all


async def read_server(api_url: str, project: str) -> tuple[list[ExistingDeployment], int]:
    """Every deployment not managed by `project`, and how many were managed (skipped)."""
    async with ApiClient(api_url) as client:
        flows, rows, pools, automations = await asyncio.gather(
            read_all(client, "/flows/filter"),
            read_all(client, "/deployments/filter"),
            read_all(client, "/work_pools/filter"),
            read_all(client, "/automations/filter"),
        )
    flow_names = {str(f["id"]): f["name"] for f in flows}
    pool_types = {p["name"]: p["type"] for p in pools}
    names = {str(r["id"]): f"{flow_names.get(str(r['flow_id']), '?')}/{r['name']}" for r in rows}
    triggers = _triggers_by_deployment(automations, names)
    found: list[ExistingDeployment] = []
    managed = 0
    for row in rows:
        labels = row.get("labels") or {}
        if labels.get(ownership.MANAGED) == "true" and labels.get(ownership.PROJECT) == project:
            managed += 1
            continue
        found.append(
            from_row(
                row,
                flow_names.get(str(row["flow_id"]), "?"),
                pool_types.get(row.get("work_pool_name") or ""),
                triggers.get(str(row["id"]), []),
                origin=api_url,
            )
        )
    found.sort(key=lambda d: d.label)
    return found, managed


def from_row(
    row: dict[str, Any],
    flow: str,
    pool_type: str | None,
    triggers: list[Any],
    origin: str,
) -> ExistingDeployment:
    """One `/deployments/filter` row. The server's interval anchor is left out: Prefect
    sets it to the deploy time, and flowfleet anchors intervals itself."""
    limit = (row.get("global_concurrency_limit") or {}).get("limit")
    options = row.get("concurrency_options") or {}
    return ExistingDeployment(
        name=row["name"],
        entrypoint=row.get("entrypoint"),
        origin=origin,
        flow=flow,
        description=plain_description(row.get("description")),
        version=row.get("version"),
        tags=list(row.get("tags") or []),
        parameters=dict(row.get("parameters") or {}),
        schedules=[
            ExistingSchedule.from_dict({**s["schedule"], **_row_extras(s)}, keep_anchor=False)
            for s in row.get("schedules") or []
        ],
        paused=bool(row.get("paused")),
        concurrency_limit=({"limit": limit, **options} if limit and options else limit),
        work_pool=row.get("work_pool_name"),
        pool_type=pool_type,
        work_queue=row.get("work_queue_name"),
        job_variables=dict(row.get("job_variables") or {}),
        triggers=triggers,
    )


def _row_extras(schedule_row: dict[str, Any]) -> dict[str, Any]:
    keys = ("active", "parameters", "slug", "max_scheduled_runs")
    return {k: schedule_row[k] for k in keys if schedule_row.get(k) is not None}


def _triggers_by_deployment(
    automations: list[dict[str, Any]], names: dict[str, str] | None = None
) -> dict[str, list[Any]]:
    """Automations that run a deployment, by its id: Prefect's deployment triggers, each
    as a deployment-trigger dict, or a reason it cannot be one (importer/triggers.py)."""
    found: dict[str, list[Any]] = {}
    for automation in automations:
        targets = {
            str(a["deployment_id"])
            for a in automation.get("actions") or []
            if a.get("type") == "run-deployment" and a.get("deployment_id")
        }
        for target in sorted(targets):
            mapped = from_automation(automation, names or {})
            if isinstance(mapped, str):
                mapped = f"'{automation.get('name')}': {mapped}"
            found.setdefault(target, []).append(mapped)
    return found


async def read_pool_types(api_url: str) -> dict[str, str]:
    """Work pool name -> type: types the pools a prefect.yaml names but `[pools]` does not."""
    async with ApiClient(api_url) as client:
        return {p["name"]: p["type"] for p in await read_all(client, "/work_pools/filter")}
