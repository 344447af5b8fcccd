"""`DeploymentSpec`: what flowfleet writes to a deployment and `plan` compares, defined once.

Desired deployments build one (`DesiredDeployment.spec()`), observed ones parse one
from the server's JSON (`ObservedDeployment.spec`), and `plan.diff` compares the
`COMPARED` fields of the two. The spec hash (the `flowfleet.spec` label) is taken
over every field, `signature` included, so a change only the flow's signature
shows is still seen.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Schedule(BaseModel):
    """One schedule: exactly one of cron, interval (seconds) or rrule, in a timezone,
    with Prefect's per-schedule fields.

    Defaults are left out of `compact()`, so a one-schedule shorthand (`cron=`)
    hashes and renders exactly as it did before the per-schedule fields existed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str | None = None
    interval: float | None = None
    rrule: str | None = None
    timezone: str = "UTC"
    day_or: bool | None = None  # cron only; None is croniter's default (True)
    anchor_date: str | None = None  # interval only, ISO in UTC; None is 2020-01-01 local
    parameters: dict[str, Any] = Field(default_factory=dict)
    active: bool = True
    slug: str | None = None
    max_scheduled_runs: int | None = None

    @field_validator("day_or")
    @classmethod
    def _default_day_or(cls, value: bool | None) -> bool | None:
        return None if value is True else value

    def compact(self) -> dict[str, Any]:
        """The schedule as the hash, the diff and `list` see it: set fields only."""
        data = self.model_dump(exclude_none=True)
        if not data["parameters"]:
            del data["parameters"]
        if data["active"]:
            del data["active"]
        return data

    def key(self) -> str:
        return schedule_key(self.compact())

    def to_prefect(self) -> Any:
        """Prefect's own schedule model; it raises on a bad cron or rrule."""
        from prefect.client.schemas.schedules import (
            CronSchedule,
            IntervalSchedule,
            RRuleSchedule,
        )

        if self.cron is not None:
            return CronSchedule(
                cron=self.cron,
                timezone=self.timezone,
                day_or=True if self.day_or is None else self.day_or,
            )
        if self.rrule is not None:
            return RRuleSchedule(rrule=self.rrule, timezone=self.timezone)
        # A fixed anchor keeps interval runs on the same grid across redeploys.
        anchor = (
            datetime.fromisoformat(self.anchor_date)
            if self.anchor_date
            else datetime(2020, 1, 1, tzinfo=ZoneInfo(self.timezone))
        )
        return IntervalSchedule(
            interval=timedelta(seconds=self.interval or 0),
            anchor_date=anchor,
            timezone=self.timezone,
        )

    def describe(self) -> str:
        what = self.cron or self.rrule or f"every {self.interval:g}s"
        slug = f"{self.slug}: " if self.slug else ""
        marks = [
            m
            for m, on in (("inactive", not self.active), ("own parameters", self.parameters))
            if on
        ]
        return f"{slug}{what} ({', '.join([self.timezone, *marks])})"


def schedule_key(schedule: dict[str, Any]) -> str:
    """What identifies a compact schedule on both sides: its slug, else its content."""
    if schedule.get("slug"):
        return f"slug {schedule['slug']}"
    return json.dumps(schedule, sort_keys=True, default=str)


class DeploymentSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    entrypoint: str | None = None
    work_pool: str | None = None
    work_queue: str | None = None  # None and "default" are the pool's default queue
    job_variables: dict[str, Any] = Field(default_factory=dict)
    schedules: list[Schedule] = Field(default_factory=list)
    active: bool = True
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)  # sorted: order is not a change
    description: str | None = None
    version: str | None = None
    concurrency_limit: int | None = None
    pull_steps: list[dict[str, Any]] | None = None
    labels: dict[str, str] = Field(default_factory=dict)  # the user's; never flowfleet.*/prefect.*
    concurrency_options: dict[str, Any] | None = None  # collision_strategy, grace_period_seconds
    enforce_parameter_schema: bool | None = None  # None: the server's default, not compared
    # The flow's signature: desired only (the server does not hold it), seen through the hash.
    signature: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Field -> value, schedules as their compact dicts: what the hash and diff see."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        # A set keyed by slug or content: the order they are listed in is not a change.
        data["schedules"] = [s.compact() for s in sorted(self.schedules, key=Schedule.key)]
        for name, default in OPTIONAL.items():  # left out unset, so older hashes still hold
            if data[name] == default:
                del data[name]
        return data

    def hash(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Fields added after the first release: absent from `as_dict` while at these defaults.
OPTIONAL: dict[str, Any] = {
    "labels": {},
    "concurrency_options": None,
    "enforce_parameter_schema": None,
    "work_queue": None,
}
# Not compared when the code leaves them unset: the server's own default then stands.
UNSET_NOT_COMPARED = ("enforce_parameter_schema",)

# Compared field by field; `signature` is only visible through the spec hash.
COMPARED = tuple(name for name in DeploymentSpec.model_fields if name != "signature")
