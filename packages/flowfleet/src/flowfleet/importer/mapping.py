"""Map one existing deployment to the arguments of a `DeploymentConfig`. Pure: no I/O.

Whatever DeploymentConfig cannot express (triggers, a work queue, a schedule's
max_scheduled_runs, templated values) is left out and reported as a
problem, with a comment above the decorator: the import never guesses.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

import flowfleet
from flowfleet.config import ConcurrencyOptions
from flowfleet.environments import Environment
from flowfleet.importer.existing import ExistingDeployment, ExistingSchedule
from flowfleet.importer.pysource import Call
from flowfleet.importer.templates import Template, strip_templates
from flowfleet.infra.base import InfraConfig
from flowfleet.problems import Problem


@dataclass(frozen=True)
class Target:
    """Where the deployment lands: its team package and environment, for pool mapping."""

    package: str  # the workspace member's distribution name
    default_infra: str
    environment: Environment | None
    infra_types: dict[str, type[InfraConfig]]
    docstring: str | None = None  # the flow function's, as Prefect reads it


@dataclass
class Mapped:
    config: Call  # `DeploymentConfig(...)`
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # informational comments, not problems

    @property
    def comments(self) -> list[str]:
        """The lines written above the decorator."""
        lines = list(self.notes)
        for p in self.problems:
            lines.append(f"{p.field}: {p.message}" if p.field else p.message)
        return lines


def map_deployment(existing: ExistingDeployment, target: Target) -> Mapped:
    problems: list[Problem] = []
    notes: list[str] = []

    def problem(field_name: str, message: str, fix: str) -> None:
        problems.append(Problem(message, target.package, existing.label, field_name, fix))

    templates: list[Template] = []
    parameters = strip_templates(existing.parameters, "parameters", templates)
    job_variables = strip_templates(existing.job_variables, "job_variables", templates)
    tags = strip_templates(existing.tags, "tags", templates)
    description = strip_templates(existing.description, "description", templates)
    version = strip_templates(existing.version, "version", templates)
    work_pool = strip_templates(existing.work_pool, "work_pool", templates)
    for template in templates:
        if template.is_image_build:
            notes.append(f"{template.path}: {template.text!r} dropped: flowfleet builds the image")
        else:
            problem(
                template.path,
                template.explain(),
                "write the value into the decorator, or per environment in `overrides`",
            )

    args: list[tuple[str, Any]] = []
    if existing.name != "default":
        args.append(("name", existing.name))
    description = _description(description, target.docstring)
    if description is not None:
        args.append(("description", description))
    if tags:
        args.append(("tags", tags))
    if version is not None:
        args.append(("version", version))
    args += _schedule_arguments(existing.schedules, problem)
    if existing.paused:
        args.append(("active", False))
    if parameters:
        args.append(("parameters", parameters))

    infra, work_pool_override, job_variables, image = _infra(
        existing, target, work_pool, job_variables, problem
    )
    if infra is not None:
        args.append(("infra", infra))
    if image is not None:
        args.append(("image", image))
    if work_pool_override is not None:
        args.append(("work_pool", work_pool_override))
    args += _concurrency(existing.concurrency_limit, problem)
    if job_variables:
        args.append(("job_variables", job_variables))

    if existing.work_queue not in (None, "default"):
        problem(
            "work_queue",
            f"runs from work queue '{existing.work_queue}'; DeploymentConfig has no "
            "work queue yet, so it will use the pool's default queue",
            "move it to the default queue, or keep it out of flowfleet for now",
        )
    if existing.triggers:
        problem(
            "triggers",
            f"has {len(existing.triggers)} trigger(s) ({_names(existing.triggers)}); "
            "DeploymentConfig cannot declare triggers yet, so they were not imported",
            "keep the automations on the server; flowfleet leaves them alone",
        )
    for key in existing.unsupported:
        problem(key, f"'{key}' has no flowfleet equivalent and was left out", "drop it")
    return Mapped(Call("DeploymentConfig", "flowfleet", tuple(args)), problems, notes)


def _description(description: str | None, docstring: str | None) -> str | None:
    """What to write, if anything: flowfleet defaults to the docstring's first line,
    Prefect to the whole docstring."""
    expected = description or docstring or None
    first_line = docstring.strip().splitlines()[0] if docstring and docstring.strip() else None
    return None if expected == first_line else expected


def _schedule_arguments(schedules: list[ExistingSchedule], problem: Any) -> list[tuple[str, Any]]:
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


def _concurrency(limit: Any, problem: Any) -> list[tuple[str, Any]]:
    """`concurrency_limit=`, and `concurrency_options=` when it is not the default
    (ENQUEUE, no grace period)."""
    options: dict[str, Any] = {}
    if isinstance(limit, dict):
        options = {
            k: limit[k]
            for k in ("collision_strategy", "grace_period_seconds")
            if limit.get(k) is not None
        }
        if options.get("collision_strategy") == "ENQUEUE":
            del options["collision_strategy"]
        limit = limit.get("limit")
    if not limit:
        return []
    args: list[tuple[str, Any]] = [("concurrency_limit", int(limit))]
    if options:
        try:
            ConcurrencyOptions(**options)
        except ValidationError as error:
            problem(
                "concurrency_limit",
                f"its concurrency options {options} are not ones DeploymentConfig accepts "
                f"({error.errors()[0]['msg']}), so they were left out",
                "use ENQUEUE or CANCEL_NEW, and a grace period of 60 to 86400 seconds",
            )
        else:
            args.append(("concurrency_options", options))
    return args


def _names(triggers: list[Any]) -> str:
    names = [t.get("name") if isinstance(t, dict) else t for t in triggers]
    return ", ".join(str(n) for n in names if n) or "unnamed"


# --- work pool and infra --------------------------------------------------------------


def _infra(
    existing: ExistingDeployment,
    target: Target,
    pool: str | None,
    job_variables: dict[str, Any],
    problem: Any,
) -> tuple[Call | None, str | None, dict[str, Any], str | None]:
    """(infra, work_pool override, raw job variables left, image) for the deployment.

    The pool maps back to an infra type through the environment's `[pools]`; a pool
    the environment does not name stays a `work_pool=` override, typed by the pool's
    type when the server told it.
    """
    if pool is None:
        return None, None, job_variables, None
    env = target.environment
    candidates = _candidates(target.infra_types)
    by_env = [
        c
        for c in candidates
        if env is not None
        and env.pool_for(c.pool_key(), target.package) == pool
        and existing.pool_type in (None, c.work_pool_type())
    ]
    override: str | None = None
    if by_env:
        chosen = _prefer(by_env, target.default_infra)
    else:
        override = pool
        by_type = [c for c in candidates if c.work_pool_type() == existing.pool_type]
        chosen = _prefer(by_type, target.default_infra) if by_type else None
        if chosen is None and existing.pool_type is not None:
            problem(
                "work_pool",
                f"work pool '{pool}' has type '{existing.pool_type}', which no installed "
                f"infra type deploys to (known: {', '.join(sorted(target.infra_types))})",
                "install the plugin for that pool type, then import again",
            )
    if chosen is None:
        return None, override, job_variables, None
    infra, job_variables = _typed(chosen, job_variables)
    image = None
    if infra.needs_image() and _keeps_image(job_variables.get("image"), env):
        image = job_variables.pop("image")
    fields = infra.model_dump(exclude_defaults=True, exclude={"type"})
    if infra.type == target.default_infra and not fields:
        return None, override, job_variables, image
    cls = type(infra)
    module = "flowfleet" if getattr(flowfleet, cls.__name__, None) is cls else cls.__module__
    return Call(cls.__name__, module, tuple(fields.items())), override, job_variables, image


def _candidates(types: dict[str, type[InfraConfig]]) -> list[InfraConfig]:
    """One default instance per infra type, and one per value of a `Literal` field with a
    default (the worker's `kind`), since those change the pool a type needs."""
    found: list[InfraConfig] = []
    for name in sorted(types):
        cls = types[name]
        try:
            found.append(cls())
        except ValidationError:
            continue
        for field_name, info in cls.model_fields.items():
            if field_name == "type" or info.default is None:
                continue
            if typing.get_origin(info.annotation) is typing.Literal:
                for value in typing.get_args(info.annotation):
                    if value != info.default:
                        found.append(cls(**{field_name: value}))
    return found


def _prefer(candidates: list[InfraConfig], default_infra: str) -> InfraConfig:
    return next((c for c in candidates if c.type == default_infra), candidates[0])


def _typed(base: InfraConfig, job_variables: dict[str, Any]) -> tuple[InfraConfig, dict[str, Any]]:
    """Move the job variables the infra type has fields for into it, keeping only those
    it writes back unchanged; the rest stay raw."""
    cls = type(base)
    variant = base.model_dump(exclude_defaults=True, exclude={"type"})
    keys = [k for k in job_variables if k in cls.model_fields and k != "type" and k not in variant]
    while keys:
        try:
            infra = cls(**variant, **{k: job_variables[k] for k in keys})
        except ValidationError:
            break
        written = infra.job_variables()
        same = [k for k in keys if k in written and written[k] == job_variables[k]]
        if same == keys and all(k in keys for k in written):
            return infra, {k: v for k, v in job_variables.items() if k not in keys}
        keys = same if same != keys else []
    return base, job_variables


def _keeps_image(image: Any, env: Environment | None) -> bool:
    """True when flowfleet's `image=` writes this exact reference back: it has a tag or
    digest, and no registry prefix would be added."""
    if not isinstance(image, str) or not image:
        return False
    tagged = "@" in image or ":" in image.rsplit("/", 1)[-1]
    registry = env.image_registry if env else None
    return tagged and ("/" in image or not registry)
