"""`ExistingDeployment`: one deployment as a prefect.yaml or a server describes it.

Both readers produce this neutral record, so the mapping to `DeploymentConfig`
is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExistingSchedule:
    """One schedule: exactly one of `cron`, `interval` (seconds) or `rrule`."""

    cron: str | None = None
    interval: float | None = None
    rrule: str | None = None
    timezone: str | None = None
    active: bool = True
    parameters: dict[str, Any] = field(default_factory=dict)
    slug: str | None = None
    day_or: bool = True
    max_scheduled_runs: int | None = None
    anchor_date: str | None = None  # only when set by hand (a prefect.yaml), not the server's

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, keep_anchor: bool) -> ExistingSchedule:
        """A prefect.yaml entry or the server's `schedule` merged with its row."""
        return cls(
            cron=data.get("cron"),
            interval=float(data["interval"]) if data.get("interval") is not None else None,
            rrule=data.get("rrule"),
            timezone=data.get("timezone"),
            active=data.get("active", True) is not False,
            parameters=dict(data.get("parameters") or {}),
            slug=data.get("slug"),
            day_or=data.get("day_or", True) is not False,
            max_scheduled_runs=data.get("max_scheduled_runs"),
            anchor_date=str(data["anchor_date"])
            if keep_anchor and data.get("anchor_date")
            else None,
        )


@dataclass
class ExistingDeployment:
    name: str
    entrypoint: str | None
    origin: str  # where it was read, for messages: "prefect.yaml deployments[3]" or a server
    flow: str | None = None  # the flow's name, when the source knows it (a server does)
    description: str | None = None
    version: str | None = None
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[ExistingSchedule] = field(default_factory=list)
    paused: bool = False
    concurrency_limit: Any = None  # an int, or prefect.yaml's {limit, collision_strategy}
    work_pool: str | None = None
    pool_type: str | None = None  # known when read from a server
    work_queue: str | None = None
    job_variables: dict[str, Any] = field(default_factory=dict)
    triggers: list[Any] = field(default_factory=list)
    unsupported: dict[str, Any] = field(default_factory=dict)  # keys with no flowfleet field

    @property
    def label(self) -> str:
        """How messages name it: `flow/name` when the flow is known, else the name."""
        return f"{self.flow}/{self.name}" if self.flow else self.name
