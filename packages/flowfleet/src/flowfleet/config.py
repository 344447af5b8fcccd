"""`DeploymentConfig`: what a team writes above a flow, one per deployment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator

from flowfleet import triggers as trigger_types
from flowfleet.infra.base import InfraConfig
from flowfleet.schedules import AnySchedule

SCHEDULE_FIELDS = ("cron", "interval", "rrule")  # the one-schedule shorthand
ALL_SCHEDULE_FIELDS = (*SCHEDULE_FIELDS, "schedules")


class ConcurrencyOptions(BaseModel):
    """What the server does with a run that finds the deployment's concurrency limit full."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    collision_strategy: Literal["ENQUEUE", "CANCEL_NEW"] = "ENQUEUE"
    # Seconds a run's infrastructure may take to start before its slot is revoked.
    grace_period_seconds: int | None = Field(default=None, ge=60, le=86400)


class VersionInfo(BaseModel):
    """Prefect's `version_info` (type, version, and e.g. branch or url). Typed, and refused
    at validate: Prefect 3.9.1's server accepts it and stores none of it (acceptance.py)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    version: str


class PendingInfra(InfraConfig):
    """An infra type given by name or as a dict, checked once plugins have loaded.

    Deferring the check keeps a flow module importable on a worker that lacks a
    deploy-time plugin, and lets `flowfleet validate` report every bad type at once.
    """

    model_config = ConfigDict(extra="allow", frozen=True)


class DeploymentConfig(BaseModel):
    """One deployment of a flow. Teams may subclass it to add defaults or fields."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(default="default", min_length=1)
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    version: str | None = None
    version_info: VersionInfo | None = None  # refused: the server drops it (acceptance.py)

    cron: str | None = None
    interval: timedelta | None = None
    rrule: str | None = None
    schedules: list[AnySchedule] | None = None
    timezone: str = "UTC"
    active: bool = True
    # An interval under a minute is refused unless this says it is meant (acceptance.py).
    allow_short_interval: bool = False

    parameters: dict[str, Any] = Field(default_factory=dict)
    infra: SerializeAsAny[InfraConfig] | None = None
    image: str | None = None
    work_pool: str | None = None
    # The pool's work queue (Prefect's work_queue_name); checked against the declared queues.
    work_queue: str | None = None

    environments: list[str] | None = None
    branches: list[str] | None = None
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    concurrency_limit: int | None = Field(default=None, gt=0)
    concurrency_options: ConcurrencyOptions | None = None
    enforce_parameter_schema: bool | None = None  # None: the server's default
    labels: dict[str, str] = Field(default_factory=dict)  # beside flowfleet's own, which win
    job_variables: dict[str, Any] = Field(default_factory=dict)
    # `after(...)` and Prefect's deployment triggers, each one automation (triggers.py).
    triggers: list[Any] = Field(default_factory=list)

    @field_validator("triggers", mode="before")
    @classmethod
    def _typed_triggers(cls, value: Any) -> list[Any]:
        return trigger_types.coerce(value)

    @field_validator("infra", mode="before")
    @classmethod
    def _defer_named_infra(cls, value: Any) -> Any:
        if isinstance(value, str):
            return PendingInfra(type=value)
        if isinstance(value, dict):
            return PendingInfra(**value)
        return value

    def schedule_fields(self) -> dict[str, Any]:
        """The schedule fields that are set: more than one is a problem."""
        return {f: getattr(self, f) for f in ALL_SCHEDULE_FIELDS if getattr(self, f) is not None}

    def with_override(self, override: dict[str, Any]) -> DeploymentConfig:
        """This config with one environment's partial config laid over it.

        `parameters` and `job_variables` merge key by key; an infra dict without a
        `type` merges into the current infra; setting any schedule field replaces
        the whole schedule. Everything else is replaced.
        """
        data = self.model_dump(exclude={"overrides", "infra"}, exclude_unset=False)
        data["infra"] = self.infra
        override = dict(override)
        if any(f in override for f in ALL_SCHEDULE_FIELDS):
            for f in ALL_SCHEDULE_FIELDS:
                data[f] = None
        for key in ("parameters", "job_variables"):
            if isinstance(override.get(key), dict):
                override[key] = {**data[key], **override[key]}
        infra = override.get("infra")
        if isinstance(infra, dict) and "type" not in infra and self.infra is not None:
            base = self.infra.model_dump(exclude_defaults=True)
            override["infra"] = {**base, "type": self.infra.type, **infra}
        data.update(override)
        return type(self).model_validate(data)
