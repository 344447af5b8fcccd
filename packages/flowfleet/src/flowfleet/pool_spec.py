"""`PoolSpec`: a work pool as flowfleet wants it and as the server holds it, one model.

Desired pools come from the deployments (each needs its pool, of its infra type's
pool type) and the environment's `[pools.<key>]` settings; observed ones are parsed
from the server's JSON. `pool_plan.diff_pool` compares the declared parts of the two.
Ownership is a marker line in the pool's description (the UI shows it, and a pool has
no labels): `Managed by flowfleet: project P, environment E.`
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment
from flowfleet.infra_types import InfraTypes
from flowfleet.pool_settings import PoolSettings

MARKER = re.compile(r"Managed by flowfleet: project (\S+), environment (\S+)\.")


def marker(project: str, environment: str) -> str:
    return f"Managed by flowfleet: project {project}, environment {environment}."


class QueueSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    priority: int | None = None
    concurrency_limit: int | None = None
    description: str | None = None


class PoolSpec(BaseModel):
    """One work pool. `settings` (desired only) is what the environment declares about it:
    None means undeclared, and such a pool is only created, never compared."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    infra: str | None = None  # desired: the infra type whose deployments need it
    concurrency_limit: int | None = None
    base_job_template: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    queues: dict[str, QueueSpec] = Field(default_factory=dict)
    settings: PoolSettings | None = None
    key: str | None = None  # desired: its key under `[pools]`

    @property
    def declared(self) -> bool:
        return self.settings is not None and self.settings.declares

    def owner(self) -> tuple[str, str] | None:
        """(project, environment) from the ownership marker; None for a foreign pool."""
        found = MARKER.search(self.description or "")
        return (found.group(1), found.group(2)) if found else None

    @classmethod
    def from_json(cls, row: dict[str, Any], queues: list[dict[str, Any]] = ()) -> PoolSpec:
        """A pool as `GET /work_pools/{name}` answers, with its queues' rows."""
        return cls(
            name=row["name"],
            type=row["type"],
            concurrency_limit=row.get("concurrency_limit"),
            base_job_template=row.get("base_job_template") or {},
            description=row.get("description"),
            queues={
                q["name"]: QueueSpec(
                    priority=q.get("priority"),
                    concurrency_limit=q.get("concurrency_limit"),
                    description=q.get("description"),
                )
                for q in queues
            },
        )


def stock_template(infra: str | None, pool_type: str, infra_types: InfraTypes) -> dict[str, Any]:
    """The infra type's own template (prefect-aws's for ECS), else the worker default."""
    cls = infra_types.types.get(infra or "")
    own = getattr(cls, "pool_type", "") == pool_type
    template = cls.base_job_template() if cls is not None and own else None
    if template is None:
        from flowfleet.infra.templates import worker_template  # process, docker

        template = worker_template(pool_type)
    return template or {}


def declared_key(environment: Environment, work_pool: str, package: str) -> str | None:
    """The `[pools]` key whose name gives `work_pool` for `package`, if it declares settings."""
    if environment.single_pool:
        return None
    for key, settings in environment.pools.items():
        if settings.declares and environment.pool_for(key, package) == work_pool:
            return key
    return None


def desired_pools(
    deployments: list[DesiredDeployment],
    environment: Environment,
    infra_types: InfraTypes,
    *,
    only_declared: bool = False,
) -> list[PoolSpec]:
    """Every pool the deployments need (or only the declared ones), by name; declared
    ones carry their settings and their template merged onto the stock one."""
    pools: dict[str, PoolSpec] = {}
    for d in deployments:
        if d.work_pool in pools:
            continue
        key = declared_key(environment, d.work_pool, d.package)
        if key is None and only_declared:
            continue
        settings = environment.pools[key] if key else None
        stock = stock_template(d.infra, d.pool_type, infra_types)
        pools[d.work_pool] = PoolSpec(
            name=d.work_pool,
            type=d.pool_type,
            infra=d.infra,
            key=key,
            settings=settings,
            concurrency_limit=settings.concurrency_limit if settings else None,
            base_job_template=settings.merged_template(stock) if settings else stock,
            queues={
                name: QueueSpec(**queue.model_dump()) for name, queue in settings.queues.items()
            }
            if settings
            else {},
        )
    return sorted(pools.values(), key=lambda p: p.name)
