"""`Cron`, `Interval`, `RRule`: the schedules a team lists in `DeploymentConfig(schedules=[...])`.

Each carries Prefect's per-schedule fields (`parameters`, `active`, `slug`,
`max_scheduled_runs`) and its own `timezone`; None means the deployment's. They
are checked when the config is built (an unknown field fails there) and turned
into flowfleet's comparable `spec.Schedule` by `schedule_checks`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    active: bool = True
    slug: str | None = Field(default=None, min_length=1)
    max_scheduled_runs: int | None = Field(default=None, gt=0)


class Cron(_Schedule):
    """`Cron("0 9 * * 1-5", timezone="Europe/London")`; `day_or=False` ANDs day and weekday."""

    kind: Literal["cron"] = "cron"
    cron: str
    day_or: bool = True

    def __init__(self, cron: str | None = None, /, **data: Any) -> None:
        super().__init__(**({"cron": cron} if cron is not None else {}), **data)


class Interval(_Schedule):
    """`Interval(timedelta(hours=1), anchor_date=datetime(...))`: runs on a grid from the anchor.

    Without an anchor, runs keep flowfleet's fixed grid (2020-01-01 in the timezone).
    """

    kind: Literal["interval"] = "interval"
    interval: timedelta
    anchor_date: datetime | None = None

    def __init__(self, interval: timedelta | float | None = None, /, **data: Any) -> None:
        super().__init__(**({"interval": interval} if interval is not None else {}), **data)


class RRule(_Schedule):
    """`RRule("FREQ=WEEKLY;BYDAY=MO;BYHOUR=8")`: an RFC 5545 rule."""

    kind: Literal["rrule"] = "rrule"
    rrule: str

    def __init__(self, rrule: str | None = None, /, **data: Any) -> None:
        super().__init__(**({"rrule": rrule} if rrule is not None else {}), **data)


def _kind(value: Any) -> str | None:
    """Which schedule a model or a dict (from an environment override) is."""
    if isinstance(value, _Schedule):
        return value.kind
    if isinstance(value, dict):
        if "kind" in value:
            return value["kind"]
        return next((k for k in ("cron", "interval", "rrule") if k in value), None)
    return None


AnySchedule = Annotated[
    Annotated[Cron, Tag("cron")]
    | Annotated[Interval, Tag("interval")]
    | Annotated[RRule, Tag("rrule")],
    Discriminator(_kind),
]
