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
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Schedule(BaseModel):
    """One schedule: exactly one of cron, interval (seconds) or rrule, in a timezone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str | None = None
    interval: float | None = None
    rrule: str | None = None
    timezone: str = "UTC"

    def describe(self) -> str:
        what = self.cron or self.rrule or f"every {self.interval:g}s"
        return f"{what} ({self.timezone})"


class DeploymentSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    entrypoint: str | None = None
    work_pool: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)
    schedules: list[Schedule] = Field(default_factory=list)
    active: bool = True
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)  # sorted: order is not a change
    description: str | None = None
    version: str | None = None
    concurrency_limit: int | None = None
    pull_steps: list[dict[str, Any]] | None = None
    # The flow's signature: desired only (the server does not hold it), seen through the hash.
    signature: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Field -> value, schedules as their compact dicts: what the hash and diff see."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data["schedules"] = [s.model_dump(exclude_none=True) for s in self.schedules]
        return data

    def hash(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Compared field by field; `signature` is only visible through the spec hash.
COMPARED = tuple(name for name in DeploymentSpec.model_fields if name != "signature")
