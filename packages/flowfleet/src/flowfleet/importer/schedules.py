"""A deployment's existing schedules as `DeploymentConfig` schedule arguments. Pure.

Kept apart from the rest of the mapping because schedules have their own shapes
(the `cron=` shorthand or typed `Cron`/`Interval`/`RRule` calls) and their own
problems (max_scheduled_runs, anchors that are not plain local times).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flowfleet.importer.existing import ExistingSchedule
from flowfleet.importer.pysource import Call


def schedule_arguments(schedules: list[ExistingSchedule], problem: Any) -> list[tuple[str, Any]]:
    """One plain schedule as the `cron=`/`interval=`/`rrule=` shorthand; several, or one
    with its own fields, as `schedules=[Cron(...), Interval(...), RRule(...)]`."""
    for schedule in schedules:
        if schedule.max_scheduled_runs is not None:
            problem(
                "schedules",
                f"its schedule {_describe(schedule)} sets max_scheduled_runs, which "
                "flowfleet refuses (Prefect's server drops it when a deployment is written), "
                "so that setting was left out",
                "drop max_scheduled_runs",
            )
    typed = [_typed_schedule(s, problem) for s in schedules]
    if len(typed) == 1 and all(k == "timezone" for k, _ in typed[0].arguments):
        [call] = typed
        return [(call.name.lower(), call.positional[0]), *call.arguments]
    return [("schedules", typed)] if typed else []


def _typed_schedule(schedule: ExistingSchedule, problem: Any) -> Call:
    """`Cron(...)`, `Interval(...)` or `RRule(...)` with the fields it sets."""
    args: list[tuple[str, Any]] = []
    if schedule.cron is not None:
        name, value = "Cron", schedule.cron
    elif schedule.rrule is not None:
        name, value = "RRule", schedule.rrule
    else:
        name, value = "Interval", timedelta(seconds=schedule.interval or 0)
        anchor = _anchor(schedule, problem)
        if anchor is not None:
            args.append(("anchor_date", anchor))
    timezone = schedule.timezone or "UTC"
    if timezone != "UTC" or args:  # a naive anchor needs the Interval's timezone said
        args.insert(0, ("timezone", timezone))
    if schedule.slug:
        args.append(("slug", schedule.slug))
    if not schedule.active:
        args.append(("active", False))
    if schedule.parameters:
        args.append(("parameters", schedule.parameters))
    if name == "Cron" and not schedule.day_or:
        args.append(("day_or", False))
    return Call(name, "flowfleet", tuple(args), (value,))


def _anchor(schedule: ExistingSchedule, problem: Any) -> datetime | None:
    """A prefect.yaml's `anchor_date` as a naive datetime in the schedule's timezone, when
    that is simple: naive, or in UTC for a UTC schedule. Else a problem."""
    if not schedule.anchor_date:
        return None
    try:
        anchor = datetime.fromisoformat(schedule.anchor_date.replace("Z", "+00:00"))
    except ValueError:
        anchor = None
    if anchor is not None and anchor.tzinfo is not None:
        utc = anchor.utcoffset() == timedelta(0) and (schedule.timezone or "UTC") == "UTC"
        anchor = anchor.replace(tzinfo=None) if utc else None
    if anchor is None:
        problem(
            "schedules",
            f"its schedule {_describe(schedule)} has anchor_date {schedule.anchor_date}, "
            "which is not a plain date and time in the schedule's timezone, so the "
            "anchor was left out (runs keep flowfleet's 2020-01-01 grid)",
            "write anchor_date=datetime(...) with timezone= on the Interval by hand",
        )
    return anchor


def _describe(schedule: ExistingSchedule) -> str:
    what = (
        f"cron '{schedule.cron}'"
        if schedule.cron is not None
        else f"rrule '{schedule.rrule}'"
        if schedule.rrule is not None
        else f"every {schedule.interval:g}s"
    )
    return f"{what} in {schedule.timezone or 'UTC'}"
