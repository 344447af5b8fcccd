"""Work pools: the ones an environment's deployments need, created from their infra type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowfleet.client import send_write
from flowfleet.desired import DesiredDeployment
from flowfleet.errors import auth_failure, describe_error, server_unavailable
from flowfleet.infra_types import InfraTypes
from flowfleet.problems import FlowfleetError


@dataclass(frozen=True)
class PoolSpec:
    name: str
    type: str
    infra: str

    def base_job_template(self, infra_types: InfraTypes) -> dict[str, Any]:
        """The infra type's own template (prefect-aws's for ECS), else the worker default."""
        cls = infra_types.types.get(self.infra)
        template = cls.base_job_template() if cls and _pool_type_of(cls) == self.type else None
        if template is None:
            from flowfleet.infra.templates import worker_template  # process, docker

            template = worker_template(self.type)
        return template or {}


def _pool_type_of(cls: type) -> str:
    return getattr(cls, "pool_type", "")


def required_pools(deployments: list[DesiredDeployment]) -> list[PoolSpec]:
    pools: dict[str, PoolSpec] = {}
    for d in deployments:
        pools.setdefault(d.work_pool, PoolSpec(d.work_pool, d.pool_type, d.infra))
    return sorted(pools.values(), key=lambda p: p.name)


async def ensure_pools(
    client: Any,
    api_url: str,
    pools: list[PoolSpec],
    infra_types: InfraTypes,
    *,
    update: bool = False,
) -> list[tuple[str, str, str]]:
    """Create missing pools; leave existing ones alone unless `update`.

    Returns (pool, status, details) rows; status is created, updated, exists or failed.
    `client` is flowfleet's `ApiClient`; Prefect's schemas build the bodies. Refused
    credentials or a server that is gone stop the whole command with one line: every
    other pool would fail the same way.
    """
    from urllib.parse import quote

    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate

    rows = []
    for pool in pools:
        path = f"/work_pools/{quote(pool.name, safe='')}"
        try:
            found = await client.request("GET", path)
            if found.status_code != 404:
                found.raise_for_status()
            existing = None if found.status_code == 404 else found.json()
            if existing is None:
                body = WorkPoolCreate(
                    name=pool.name,
                    type=pool.type,
                    base_job_template=pool.base_job_template(infra_types),
                )
                made = await client.request("POST", "/work_pools/", json=_json(body))
                if made.status_code == 409:  # another run created it since our GET: as good
                    rows.append((pool.name, "exists", "created meanwhile by another run"))
                    continue
                made.raise_for_status()
                rows.append((pool.name, "created", f"type {pool.type}"))
            elif existing["type"] != pool.type:
                rows.append(
                    (
                        pool.name,
                        "failed",
                        f"exists with type '{existing['type']}', needs '{pool.type}'",
                    )
                )
            elif update:
                body = WorkPoolUpdate(base_job_template=pool.base_job_template(infra_types))
                await send_write(client, "PATCH", path, json=_json(body))
                rows.append((pool.name, "updated", "base job template replaced"))
            else:
                rows.append((pool.name, "exists", "left alone (pass --update to refresh)"))
        except Exception as exc:
            if auth_failure(exc) or server_unavailable(exc):
                raise FlowfleetError(f"work pools: {describe_error(exc, api_url)}") from None
            rows.append((pool.name, "failed", describe_error(exc, api_url)))
    return rows


def _json(body: Any) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_unset=True)
