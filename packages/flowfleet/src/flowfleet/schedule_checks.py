"""The schedules a config asks for, as checked `Schedule` records, or problems.

`resolve` hands each deployment's config here: the one-schedule shorthand (`cron`,
`interval`, `rrule`) or the typed `schedules` list (`schedules.Cron`/`Interval`/`RRule`)
becomes `desired.Schedule` records, each checked by Prefect's own schedule model so a
value the server would refuse is a problem naming its field, not a failed deploy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from flowfleet import cron_fields
from flowfleet.config import SCHEDULE_FIELDS, DeploymentConfig
from flowfleet.desired import Schedule
from flowfleet.schedules import Cron, RRule


def checked_schedules(config: DeploymentConfig, problem: Any) -> list[Schedule]:
    """The deployment's schedules: the one-schedule shorthand or the `schedules` list."""
    if not _known_timezone(config.timezone, "timezone", problem):
        return []
    set_fields = config.schedule_fields()
    if len(set_fields) > 1:
        problem(
            f"sets {' and '.join(set_fields)}; a deployment takes at most one of "
            f"{', '.join(SCHEDULE_FIELDS)}, or a `schedules` list",
            "/".join(set_fields),
            "keep one, or list every schedule in `schedules=[Cron(...), Interval(...)]`",
        )
        return []
    if config.schedules is not None:
        return _schedule_list(config, problem)
    if config.cron is not None:
        return _checked(Schedule(cron=config.cron, timezone=config.timezone), "cron", problem)
    if config.rrule is not None:
        return _checked(Schedule(rrule=config.rrule, timezone=config.timezone), "rrule", problem)
    if config.interval is not None:
        seconds = config.interval.total_seconds()
        return _checked(Schedule(interval=seconds, timezone=config.timezone), "interval", problem)
    return []


def _schedule_list(config: DeploymentConfig, problem: Any) -> list[Schedule]:
    schedules: list[Schedule] = []
    slugs: dict[str, int] = {}
    for index, given in enumerate(config.schedules or []):
        where = f"schedules[{index}]"
        timezone = given.timezone or config.timezone
        if not _known_timezone(timezone, f"{where}.timezone", problem):
            continue
        if given.slug is not None and given.slug in slugs:
            problem(
                f"schedules[{slugs[given.slug]}] and {where} both have slug '{given.slug}'",
                f"{where}.slug",
                "give every schedule its own slug",
            )
            continue
        if given.max_scheduled_runs is not None:
            # Measured: Prefect 3.9.1's deployment upsert copies active, parameters and slug
            # into the schedule rows and drops max_scheduled_runs, so it would never read back.
            problem(
                "max_scheduled_runs is dropped by the Prefect server (3.9.1) when a "
                "deployment is written, so flowfleet cannot keep it",
                f"{where}.max_scheduled_runs",
                "remove it; the server's PREFECT_DEPLOYMENT_SCHEDULE_MAX_SCHEDULED_RUNS applies",
            )
            continue
        if given.slug is not None:
            slugs[given.slug] = index
        common = dict(
            timezone=timezone,
            parameters=given.parameters,
            active=given.active,
            slug=given.slug,
            max_scheduled_runs=given.max_scheduled_runs,
        )
        if isinstance(given, Cron):
            schedule = Schedule(cron=given.cron, day_or=given.day_or, **common)
        elif isinstance(given, RRule):
            schedule = Schedule(rrule=given.rrule, **common)
        else:
            anchor = given.anchor_date
            if anchor is not None and anchor.tzinfo is None:
                if given.timezone is None:
                    problem(
                        f"anchor_date {anchor.isoformat()} has no timezone, and the "
                        "interval names none",
                        f"{where}.anchor_date",
                        "give the anchor a tzinfo, or set timezone= on the Interval",
                    )
                    continue
                anchor = anchor.replace(tzinfo=ZoneInfo(timezone))
            schedule = Schedule(
                interval=given.interval.total_seconds(),
                anchor_date=_utc_iso(anchor) if anchor is not None else None,
                **common,
            )
        schedules.extend(_checked(schedule, where, problem))
    return schedules


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _known_timezone(name: str, field_name: str, problem: Any) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problem(
            f"unknown timezone '{name}'",
            field_name,
            "use an IANA name such as 'Europe/London' or 'UTC'",
        )
        return False
    return True


def _checked(schedule: Schedule, field_name: str, problem: Any) -> list[Schedule]:
    """[schedule] when Prefect's own schedule model takes it, else [] and a problem."""
    if schedule.interval is not None and schedule.interval <= 0:
        problem(f"interval must be positive, got {schedule.interval:g}s", field_name)
        return []
    try:
        schedule.to_prefect()
    except (ValidationError, ValueError):
        if schedule.cron is not None:
            wrong, fix = cron_fields.diagnose(schedule.cron)
            problem(f"invalid cron '{schedule.cron}': {wrong}", field_name, fix)
        else:
            problem(
                f"invalid rrule '{schedule.rrule}'",
                field_name,
                "use an RFC 5545 rule, e.g. 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=8'",
            )
        return []
    return [schedule]
