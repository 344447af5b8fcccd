"""What the Prefect server holds, read in a few paged calls and normalised for comparison.

Parsing works on the API's JSON, so the same code serves Prefect's client and a
plain HTTP reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flowfleet import desired as ownership
from flowfleet import lease_holder
from flowfleet.alert_blocks import NOTIFY_FILTER, notification_blocks
from flowfleet.automations import ObservedAutomation
from flowfleet.errors import describe_error
from flowfleet.paging import PagedRows, read_all, read_pages
from flowfleet.problems import FlowfleetError
from flowfleet.read_scope import ReadScope, everything
from flowfleet.spec import DeploymentSpec, Schedule


@dataclass(frozen=True)
class ObservedDeployment:
    id: str
    flow_id: str
    flow: str
    name: str
    paused: bool
    labels: dict[str, str]
    spec: DeploymentSpec
    updated: str | None = None

    def spec_dict(self) -> dict[str, Any]:
        """The compared fields as `diff` sees them (schedules as compact dicts)."""
        return self.spec.as_dict()

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"

    def managed_by(self, project: str) -> bool:
        return (
            self.labels.get(ownership.MANAGED) == "true"
            and self.labels.get(ownership.PROJECT) == project
        )

    @property
    def environment(self) -> str | None:
        return self.labels.get(ownership.ENV)

    @property
    def package(self) -> str | None:
        return self.labels.get(ownership.PACKAGE)

    @property
    def branch(self) -> str | None:
        return self.labels.get(ownership.BRANCH)

    @classmethod
    def from_json(cls, data: dict[str, Any], flow_name: str) -> ObservedDeployment:
        labels = {k: str(v) for k, v in (data.get("labels") or {}).items()}
        limit = (data.get("global_concurrency_limit") or {}).get("limit")
        spec = DeploymentSpec(
            entrypoint=module_entrypoint(data.get("entrypoint")),
            work_pool=data.get("work_pool_name"),
            work_queue=None
            if data.get("work_queue_name") == "default"
            else data.get("work_queue_name"),
            job_variables=data.get("job_variables") or {},
            schedules=[_schedule(s) for s in data.get("schedules") or []],
            # flowfleet's own label: a pause made on the server is not drift. A deployment
            # flowfleet never wrote has no label; its pause state is what it is.
            active=labels[ownership.ACTIVE] != "false"
            if ownership.ACTIVE in labels
            else not data.get("paused"),
            parameters=data.get("parameters") or {},
            tags=sorted(data.get("tags") or []),
            description=plain_description(data.get("description")),
            version=data.get("version"),
            concurrency_limit=limit if limit is not None else data.get("concurrency_limit"),
            pull_steps=data.get("pull_steps") or None,  # `deploy()` writes [] for none
            labels={
                k: v
                for k, v in labels.items()
                if not k.startswith(ownership.RESERVED_LABEL_PREFIXES)
            },
            concurrency_options=_concurrency_options(data.get("concurrency_options")),
            enforce_parameter_schema=data.get("enforce_parameter_schema"),
        )
        return cls(
            id=str(data["id"]),
            flow_id=str(data["flow_id"]),
            flow=flow_name,
            name=data["name"],
            paused=bool(data.get("paused")),
            labels=labels,
            spec=spec,
            updated=data.get("updated"),
        )


def module_entrypoint(entrypoint: str | None) -> str | None:
    """`pkg.module:flow`, also for Prefect's other module form `pkg.module.flow`
    (`to_deployment(entrypoint_type=MODULE_PATH)`): the same function, one spelling."""
    if not entrypoint or ":" in entrypoint or entrypoint.endswith(".py"):
        return entrypoint
    module, _, function = entrypoint.rpartition(".")
    return f"{module}:{function}" if module else entrypoint


def plain_description(text: str | None) -> str | None:
    """Prefect 3.9's client writes a missing description as the string "None"
    (`prefect deploy`, `flow.deploy()`); it means none."""
    return None if text == "None" else text


def _schedule(row: dict[str, Any]) -> Schedule:
    """One schedule row: its definition and its per-schedule fields, defaults normalised
    (croniter's `day_or=True`, flowfleet's 2020-01-01 interval anchor) so they compare equal."""
    data = row["schedule"]
    timezone = data.get("timezone") or "UTC"
    common: dict[str, Any] = dict(
        timezone=timezone,
        parameters=row.get("parameters") or {},
        active=row.get("active", True),
        slug=row.get("slug"),
        max_scheduled_runs=row.get("max_scheduled_runs"),
    )
    if data.get("cron") is not None:
        return Schedule(cron=data["cron"], day_or=data.get("day_or"), **common)
    if data.get("rrule") is not None:
        return Schedule(rrule=data["rrule"], **common)
    return Schedule(
        interval=float(data["interval"]),
        anchor_date=_anchor(data.get("anchor_date"), timezone),
        **common,
    )


def _anchor(text: str | None, timezone: str) -> str | None:
    """The anchor in UTC, or None when it is flowfleet's default grid (2020-01-01 local)."""
    if not text:
        return None
    try:
        anchor = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        default = datetime(2020, 1, 1, tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    except (ValueError, KeyError, ZoneInfoNotFoundError):
        return text
    return None if anchor == default else anchor.isoformat()


def _concurrency_options(data: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in data.items() if v is not None} if data else None


@dataclass
class ServerState:
    """The server's deployments, flows and work pools, by name: every one, or those in
    `scope` (flowfleet.read_scope)."""

    api_url: str
    deployments: dict[str, ObservedDeployment] = field(default_factory=dict)
    flow_ids: dict[str, str] = field(default_factory=dict)
    pools: dict[str, str] = field(default_factory=dict)  # pool name -> pool type
    automations: list[ObservedAutomation] = field(default_factory=list)
    notification_blocks: dict[str, str] = field(default_factory=dict)  # "type/name" -> id
    scope: ReadScope | None = None  # None: everything was read
    # The deploy lease's release mark, read before the rest (lease_holder.release_mark).
    lease_mark: str | None = None

    def narrowed(self, scope: ReadScope) -> ServerState:
        """Only what `scope` would have read: a wider read gives the same plan as a narrow one."""
        return ServerState(
            self.api_url,
            deployments={k: d for k, d in self.deployments.items() if d.flow in scope.flows},
            flow_ids={k: i for k, i in self.flow_ids.items() if k in scope.flows},
            pools={k: t for k, t in self.pools.items() if k in scope.pools},
            automations=self.automations,
            notification_blocks=self.notification_blocks,
            scope=scope,
            lease_mark=self.lease_mark,
        )


async def read_server_state(
    client: Any, api_url: str, scope: ReadScope | None = None, lease: str | None = None
) -> ServerState:
    """Page through flows, deployments, work pools and automations (`read_server_rows`)."""
    return (await read_server_rows(client, api_url, scope, lease)).state()


async def read_server_rows(
    client: Any,
    api_url: str,
    scope: ReadScope | None = None,
    lease: str | None = None,
    hold: Callable[[], bool] | None = None,
) -> ServerRows:
    """Page through flows, deployments, work pools and automations with one shared
    client; they run at once, so the server serialises one page while another is parsed.
    With `scope`, only the project's flows, their deployments and its pools. With
    `lease` (a deploy lease's name), its release mark first, so a deploy that takes the
    lease can tell whether this read still holds (flowfleet.lease_holder). While `hold`
    answers True, deployment pages are kept compressed, parsed by `state()` (paging.py)."""
    mark = await lease_holder.release_mark(client, lease) if lease is not None else None
    filters = scope.filters if scope else everything
    flows, deployments, pools, automations, blocks = await asyncio.gather(
        read_all(client, "/flows/filter", filters("/flows/filter"), _flow_name),
        read_pages(client, "/deployments/filter", filters("/deployments/filter"), _unnamed, hold),
        read_all(client, "/work_pools/filter", filters("/work_pools/filter")),
        read_all(client, "/automations/filter"),
        read_all(client, "/block_documents/filter", [NOTIFY_FILTER]),  # what alerts name
    )
    return ServerRows(api_url, scope, mark, flows, deployments, pools, automations, blocks)


@dataclass
class ServerRows:
    """One read of the server, its deployments perhaps still held as pages."""

    api_url: str
    scope: ReadScope | None
    lease_mark: str | None
    flows: list[tuple[str, str]]  # (id, name)
    deployments: PagedRows
    pools: list[dict[str, Any]]
    automations: list[dict[str, Any]]
    blocks: list[dict[str, Any]]

    def state(self) -> ServerState:
        state = ServerState(self.api_url, scope=self.scope, lease_mark=self.lease_mark)
        state.notification_blocks = notification_blocks(self.blocks)
        state.automations = [ObservedAutomation.from_json(row) for row in self.automations]
        flow_names = dict(self.flows)
        state.flow_ids = {name: flow_id for flow_id, name in self.flows}
        for unnamed in self.deployments.values():
            observed = replace(unnamed, flow=flow_names.get(unnamed.flow_id, "?"))
            state.deployments[observed.full_name] = observed
        state.pools = {row["name"]: row["type"] for row in self.pools}
        return state


def _flow_name(row: dict[str, Any]) -> tuple[str, str]:
    return str(row["id"]), row["name"]


def _unnamed(row: dict[str, Any]) -> ObservedDeployment:
    """A deployment row parsed as its page arrives; its flow is named once flows are read."""
    return ObservedDeployment.from_json(row, "?")


async def read_state(
    client: Any, api_url: str, scope: ReadScope | None = None, lease: str | None = None
) -> ServerState:
    """The server's deployments, flows and pools; a failure is one line naming the URL."""
    try:
        return await read_server_state(client, api_url, scope, lease)
    except Exception as exc:
        raise read_failed(exc, api_url) from None


def read_failed(exc: BaseException, api_url: str) -> FlowfleetError:
    """The one line for a read of the server that failed, naming the URL."""
    return FlowfleetError(f"reading the server failed: {describe_error(exc, api_url)}")
