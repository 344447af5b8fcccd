"""`flowfleet pools` and `deploy`'s first step: the work pools an environment needs.

Declared pools (`[pools.<key>]` with settings) go through the same plan and apply as
`deploy` (pool_plan.py, pool_apply.py). Undeclared ones keep the old behaviour: created
from their infra type's stock template when missing, left alone when present, their
template replaced by the stock one only with `--update`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from flowfleet.apply import Outcome
from flowfleet.changes import PoolChange
from flowfleet.client import send_write
from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment
from flowfleet.errors import auth_failure, describe_error, server_unavailable
from flowfleet.infra_types import InfraTypes
from flowfleet.plan import Plan
from flowfleet.pool_apply import apply_pools
from flowfleet.pool_plan import plan_pools, pool_path
from flowfleet.pool_spec import PoolSpec, desired_pools, marker
from flowfleet.problems import FlowfleetError


@dataclass
class DeclaredPools:
    """The declared pools of one command: wanted, as read, and their plan rows."""

    wanted: dict[str, PoolSpec] = field(default_factory=dict)
    observed: dict[str, PoolSpec] = field(default_factory=dict)
    rows: list[PoolChange] = field(default_factory=list)

    @classmethod
    async def read(
        cls,
        client: Any,
        deployments: list[DesiredDeployment],
        environment: Environment,
        infra_types: InfraTypes,
        *,
        project: str,
        adopt: bool = False,
    ) -> DeclaredPools:
        wanted = desired_pools(deployments, environment, infra_types, only_declared=True)
        observed = await read_pools(client, [w.name for w in wanted])
        rows = plan_pools(
            wanted, observed, project=project, environment=environment.name, adopt=adopt
        )
        return cls({w.name: w for w in wanted}, observed, rows)

    def attach(self, plan: Plan) -> Plan:
        """Put the rows in the plan; a declared pool to create is no longer a blocker."""
        plan.pools = self.rows
        for row in self.rows:
            plan.missing_pools.pop(row.name, None)
            if row.action == "conflict":
                plan.wrong_pools.pop(row.name, None)  # the row says it, once
        return plan

    async def apply(self, client: Any, *, project: str, environment: str, api_url: str):
        return await apply_pools(
            client,
            self.rows,
            self.wanted,
            self.observed,
            project=project,
            environment=environment,
            api_url=api_url,
        )


async def read_pools(client: Any, names: list[str]) -> dict[str, PoolSpec]:
    """The named pools with their queues (absent ones left out): two reads a pool."""

    async def one(name: str) -> PoolSpec | None:
        found = await client.request("GET", pool_path(name))
        if found.status_code == 404:
            return None
        found.raise_for_status()
        queues = await client.request("POST", f"{pool_path(name)}/queues/filter", json={})
        queues.raise_for_status()
        return PoolSpec.from_json(found.json(), queues.json())

    pools = await asyncio.gather(*(one(n) for n in names))
    return {p.name: p for p in pools if p is not None}


async def ensure_pools(
    client: Any,
    api_url: str,
    pools: list[PoolSpec],
    *,
    project: str,
    environment: str,
    update: bool = False,
) -> list[Outcome]:
    """Create the missing undeclared pools; leave existing ones alone unless `update`.

    `client` is flowfleet's `ApiClient`; Prefect's schemas build the bodies. Refused
    credentials or a server that is gone stop the whole command with one line: every
    other pool would fail the same way.
    """
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate

    outcomes = []
    for pool in pools:
        label = f"work pool {pool.name}"

        def outcome(status: Any, details: str, label: str = label) -> None:
            outcomes.append(Outcome(full_name=label, status=status, details=details))

        try:
            found = await client.request("GET", pool_path(pool.name))
            if found.status_code != 404:
                found.raise_for_status()
            existing = None if found.status_code == 404 else found.json()
            if existing is None:
                body = WorkPoolCreate(
                    name=pool.name,
                    type=pool.type,
                    base_job_template=pool.base_job_template,
                    description=marker(project, environment),
                )
                made = await client.request("POST", "/work_pools/", json=_json(body))
                if made.status_code == 409:  # another run created it since our GET: as good
                    outcome("unchanged", "created meanwhile by another run")
                    continue
                made.raise_for_status()
                outcome("created", f"type {pool.type}")
            elif existing["type"] != pool.type:
                outcome("failed", f"exists with type '{existing['type']}', needs '{pool.type}'")
            elif update:
                body = WorkPoolUpdate(base_job_template=pool.base_job_template)
                await send_write(client, "PATCH", pool_path(pool.name), json=_json(body))
                outcome("updated", "base job template replaced")
            else:
                outcome("unchanged", "left alone (pass --update to refresh)")
        except Exception as exc:
            if auth_failure(exc) or server_unavailable(exc):
                raise FlowfleetError(f"work pools: {describe_error(exc, api_url)}") from None
            outcome("failed", describe_error(exc, api_url))
    return outcomes


def _json(body: Any) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_unset=True)
