"""`resolve`: (flow, DeploymentConfig) pairs -> DesiredDeployment records for one environment.

Pure: it takes the loaded fleet and the gathered `Facts`, and runs no git, reads no
environment variable and uses no network. Problems are collected, never raised.
One registration goes through small steps: names checked, environment and branch
filters, the effective config (default infra, override), schedules, infra,
parameters, storage, placement (pool, image, job variables), the record, the
plugins' `flowfleet_adjust_deployment`.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from flowfleet import acceptance, branches, naming
from flowfleet import desired as ownership
from flowfleet.config import SCHEDULE_FIELDS, DeploymentConfig, PendingInfra
from flowfleet.desired import DesiredDeployment, Schedule
from flowfleet.environments import Environment
from flowfleet.errors import describe_error
from flowfleet.facts import Facts, Storage
from flowfleet.infra.base import InfraConfig
from flowfleet.infra.templates import check_job
from flowfleet.loader import Fleet
from flowfleet.problems import Problem
from flowfleet.registry import Registration
from flowfleet.schedules import Cron, RRule

FALLBACK_INFRA = "worker"


@dataclass
class Resolution:
    environment: Environment
    deployments: list[DesiredDeployment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Context:
    fleet: Fleet
    facts: Facts
    reported: set[tuple[str, str]] = field(default_factory=set)  # (package, what): once each


@dataclass(frozen=True)
class _Placement:
    """Where a deployment runs: its pool, the pool's type, its image and job variables."""

    infra: str  # the infra type's name
    work_pool: str
    pool_type: str
    image: str | None
    job_variables: dict[str, Any]


def resolve(
    fleet: Fleet, facts: Facts, *, resolved: Iterable[DesiredDeployment] = ()
) -> Resolution:
    """Resolve every registration of `fleet` for the environment of `facts`.

    `resolved` are deployments of packages resolved earlier (from the cache); they
    take part in the duplicate-name check like the rest.
    """
    ctx = _Context(fleet, facts)
    environment = facts.environment
    result = Resolution(environment, problems=list(fleet.problems))
    result.problems.extend(fleet.plugins.infra_types.problems)
    seen: dict[str, DesiredDeployment] = {d.full_name: d for d in resolved}
    result.deployments.extend(seen.values())
    for package, registration in fleet.registrations():
        problems: list[Problem] = []
        deployment = _resolve_one(ctx, package, registration, problems)
        result.problems.extend(problems)
        if deployment is None:
            continue
        if deployment.full_name in seen:
            first = seen[deployment.full_name]
            result.problems.append(
                Problem(
                    f"two deployments have this full name in environment "
                    f"'{environment.name}': at {first.source} ({first.package}) "
                    f"and at {deployment.source} ({deployment.package})",
                    package=deployment.package,
                    flow=deployment.full_name,
                    field="name",
                    fix="give one of them another `name`",
                )
            )
            continue
        seen[deployment.full_name] = deployment
        result.deployments.append(deployment)
    result.deployments.sort(key=lambda d: d.full_name)
    return result


def _resolve_one(
    ctx: _Context, package: str, reg: Registration, problems: list[Problem]
) -> DesiredDeployment | None:
    """One registration in one environment: None when it is not deployed here or is wrong."""
    env = ctx.facts.environment
    full_name = f"{reg.flow.name}/{reg.config.name}"

    def problem(message: str, field_name: str | None = None, fix: str | None = None) -> None:
        problems.append(Problem(message, package, full_name, field_name, fix, reg.source))

    _check_names(reg.config, ctx.facts.known_environments, problem)
    if reg.config.environments is not None and env.name not in reg.config.environments:
        return None
    config = _effective_config(ctx, package, reg.config, problems, problem)
    if config is None or not _on_branch(config, ctx.facts.branch):
        return None

    schedules = _schedules(config, problem)
    _check_labels(config, problem)
    infra = _infra(ctx, package, config, problem, _override_of(reg.config, env.name))
    parameters = _parameters(reg, config, problem)
    storage = _storage(ctx, package, problems)
    if problems or infra is None or storage is None:
        return None
    placement = _placement(ctx, package, config, infra, storage, problem)
    if placement is None:
        return None

    deployment = _deployment(ctx, package, reg, config, placement, storage, schedules, parameters)
    raised = ctx.fleet.plugins.adjust_deployment(deployment, env)
    if raised is not None:
        plugin, exc = raised
        problem(
            f"plugin '{plugin}' raised in flowfleet_adjust_deployment: {describe_error(exc)}",
            fix=f"fix or uninstall the plugin '{plugin}'; nothing is deployed until then",
        )
        return None
    if not acceptance.check(deployment, config, problem):  # what the server would refuse
        return None
    # Laptop mode (single_pool) runs every type on one process pool: nothing to check.
    jobs = (
        [] if env.single_pool else check_job(infra, placement.pool_type, deployment.job_variables)
    )
    for job_problem in jobs:
        field_name = _job_variable_field(reg.config, env.name, job_problem.field)
        problem(job_problem.message, field_name, job_problem.fix)
    if problems:
        return None
    return deployment.finalise()


def _check_names(config: DeploymentConfig, known: list[str], problem: Any) -> None:
    """Unknown environment names and override keys that are not config fields."""
    for env_name in config.environments or []:
        if env_name not in known:
            problem(*_unknown_environment(env_name, known, "environments"))
    for env_name, override in config.overrides.items():
        if env_name not in known:
            problem(*_unknown_environment(env_name, known, f"overrides.{env_name}"))
        fields = [f for f in type(config).model_fields if f != "overrides"]
        for key in override:
            if key not in fields:
                problem(
                    f"override for '{env_name}' sets '{key}', which is not a config field",
                    f"overrides.{env_name}.{key}",
                    _did_you_mean(key, fields) or "use a DeploymentConfig field name",
                )


def _effective_config(
    ctx: _Context,
    package: str,
    config: DeploymentConfig,
    problems: list[Problem],
    problem: Any,
) -> DeploymentConfig | None:
    """The config with the package's default infra and this environment's override laid on."""
    env = ctx.facts.environment
    if config.infra is None:
        # The package's default type, given here so a partial infra override merges into it.
        config = config.model_copy(
            update={"infra": PendingInfra(type=_default_infra(ctx, package))}
        )
    if env.name in config.overrides and not problems:
        try:
            config = config.with_override(config.overrides[env.name])
        except ValidationError as exc:
            for error in exc.errors():
                loc = ".".join(str(p) for p in error["loc"])
                problem(error["msg"], f"overrides.{env.name}.{loc}")
            return None
    return config


def _on_branch(config: DeploymentConfig, branch: str | None) -> bool:
    """False when the config names branches and the one being deployed is not among them."""
    if config.branches is None or branch is None:
        return True
    return any(fnmatch.fnmatchcase(branch, pattern) for pattern in config.branches)


def _placement(
    ctx: _Context,
    package: str,
    config: DeploymentConfig,
    infra: InfraConfig,
    storage: Storage,
    problem: Any,
) -> _Placement | None:
    """Pool, pool type, image and job variables; None (with a problem) when no image fits."""
    env = ctx.facts.environment
    # A single-pool environment (a laptop) wins over a deployment's own `work_pool`.
    work_pool = env.single_pool or config.work_pool or env.pool_for(infra.pool_key(), package)
    job_variables: dict[str, Any] = {}
    image = None
    if env.single_pool:
        pool_type = "process"
        env_vars = getattr(infra, "env", None)
        if env_vars:
            job_variables["env"] = dict(env_vars)
    else:
        pool_type = infra.work_pool_type()
        job_variables.update(infra.job_variables())
        if infra.needs_image() and storage.mode == "git":
            # Git storage: the code comes from the clone, the runtime from one shared image.
            image = config.image or env.base_image
            if image is None:
                if (package, "base_image") not in ctx.reported:
                    ctx.reported.add((package, "base_image"))
                    env_file = ctx.facts.env_file
                    problem(
                        f"git storage runs in the environment's shared runtime image, and "
                        f"{env_file} sets no base_image",
                        "image",
                        f'set base_image = "<registry>/<runtime>:<tag>" in {env_file}',
                    )
                return None
            job_variables["image"] = image
        elif infra.needs_image():
            member = ctx.facts.member(package)
            image = _image(ctx, package, member.image_name if member else package, config)
            job_variables["image"] = image
    job_variables.update(config.job_variables)
    return _Placement(infra.type, work_pool, pool_type, image, job_variables)


def _deployment(
    ctx: _Context,
    package: str,
    reg: Registration,
    config: DeploymentConfig,
    placement: _Placement,
    storage: Storage,
    schedules: list[Schedule],
    parameters: dict[str, Any],
) -> DesiredDeployment:
    """The record itself. A branch deployment (branch_deployments, off the default branch)
    gets its own name, paused schedules and a branch label, so it never meets another
    branch's."""
    env = ctx.facts.environment
    lane = branches.lane(env, ctx.facts.branch)
    name = naming.server_name(env, config.name, ctx.facts.branch)
    lane_labels = {ownership.BRANCH: lane} if lane else {}
    deployment = DesiredDeployment(
        package=package,
        flow=reg.flow.name,
        name=name,
        full_name=f"{reg.flow.name}/{name}",
        entrypoint=reg.entrypoint,
        work_pool=placement.work_pool,
        pool_type=placement.pool_type,
        infra=placement.infra,
        image=placement.image,
        job_variables=placement.job_variables,
        schedules=schedules,
        paused=not config.active or lane is not None,
        parameters=parameters,
        tags=list(dict.fromkeys(config.tags)),
        labels={
            ownership.MANAGED: "true",
            ownership.PROJECT: ctx.facts.project,
            ownership.ENV: env.name,
            ownership.PACKAGE: package,
            **lane_labels,
        },
        description=config.description or _first_line(reg.flow.description),
        version=config.version,
        concurrency_limit=config.concurrency_limit,
        concurrency_options=config.concurrency_options.model_dump(exclude_none=True)
        if config.concurrency_options
        else None,
        enforce_parameter_schema=config.enforce_parameter_schema,
        user_labels=config.labels,
        pull_steps=storage.pull_steps,
        storage=storage.mode,
        commit=storage.commit,
        source=reg.source,
        signature=str(inspect.signature(reg.flow.fn)),
    )
    deployment._flow = reg.flow
    return deployment


def _storage(ctx: _Context, package: str, problems: list[Problem]) -> Storage | None:
    """The package's storage (gathered in the facts); its problem reported once per package."""
    storage = ctx.facts.storage_of(package)
    if not storage.problems:
        return storage
    if (package, "storage") not in ctx.reported:
        ctx.reported.add((package, "storage"))
        problems.extend(storage.problems)
    return None


def _override_of(config: DeploymentConfig, env_name: str) -> dict[str, Any]:
    return config.overrides.get(env_name) or {}


def _job_variable_field(config: DeploymentConfig, env_name: str, key: str) -> str:
    """Where a job variable was set: an environment's override names that environment."""
    override = _override_of(config, env_name)
    if key in (override.get("job_variables") or {}):
        return f"overrides.{env_name}.job_variables.{key}"
    if isinstance(override.get("infra"), dict) and key in override["infra"]:
        return f"overrides.{env_name}.infra.{key}"
    return f"job_variables.{key}" if key in config.job_variables else f"infra.{key}"


def _check_labels(config: DeploymentConfig, problem: Any) -> None:
    """User labels may not use flowfleet's or the server's own prefixes: those mark ownership."""
    for key in config.labels:
        if key.startswith(ownership.RESERVED_LABEL_PREFIXES):
            problem(
                f"label '{key}' uses a reserved prefix "
                f"({', '.join(ownership.RESERVED_LABEL_PREFIXES)})",
                f"labels.{key}",
                "rename the label; flowfleet's own labels mark ownership and cannot be set",
            )


def _schedules(config: DeploymentConfig, problem: Any) -> list[Schedule]:
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
            problem(
                f"invalid cron '{schedule.cron}'",
                field_name,
                "use five fields, e.g. '0 9 * * *' for 09:00 daily",
            )
        else:
            problem(
                f"invalid rrule '{schedule.rrule}'",
                field_name,
                "use an RFC 5545 rule, e.g. 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=8'",
            )
        return []
    return [schedule]


def _infra(
    ctx: _Context,
    package: str,
    config: DeploymentConfig,
    problem: Any,
    override: dict[str, Any],
) -> InfraConfig | None:
    value: InfraConfig | dict[str, Any] = config.infra or {"type": _default_infra(ctx, package)}
    # An infra set by an environment's override is reported under that environment.
    prefix = f"overrides.{ctx.facts.environment.name}.infra" if "infra" in override else "infra"
    try:
        return ctx.fleet.plugins.infra_types.validate(value)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            for error in exc.errors():
                loc = ".".join(str(p) for p in error["loc"][1:])  # [0] is the type
                field_name = f"{prefix}.{loc}" if loc else prefix
                problem(error["msg"].removeprefix("Value error, "), field_name)
        else:
            problem(str(exc), "infra", "install the plugin that provides it, or use a known type")
        return None


def _default_infra(ctx: _Context, package: str) -> str:
    member = ctx.facts.member(package)
    return (
        (member.options.get("default_infra") if member else None)
        or ctx.facts.environment.default_infra
        or FALLBACK_INFRA
    )


def _parameters(reg: Registration, config: DeploymentConfig, problem: Any) -> dict[str, Any]:
    signature = inspect.signature(reg.flow.fn)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    params = dict(config.parameters)
    bad = False
    if not accepts_any:
        for name in params:
            if name not in signature.parameters:
                accepted = ", ".join(signature.parameters) or "none"
                problem(
                    f"flow does not accept parameter '{name}' (accepted: {accepted})",
                    f"parameters.{name}",
                    _did_you_mean(name, list(signature.parameters))
                    or "remove it, or add it to the flow's signature",
                )
                bad = True
    for name, p in signature.parameters.items():
        if (
            p.default is p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and name not in params
        ):
            problem(
                f"required flow parameter '{name}' has no value and no default",
                f"parameters.{name}",
                f"set parameters={{'{name}': ...}}",
            )
            bad = True
    if bad:
        return params
    try:
        with _quiet("prefect.flows"):  # it logs the same error, over several lines
            reg.flow.validate_parameters(params)
    except Exception as exc:
        lines = [line.strip(" -") for line in str(exc).splitlines()[1:] if line.strip(" -")]
        for line in lines or [str(exc)]:
            name, sep, msg = line.partition(": ")
            if sep and name in params:
                problem(f"invalid value: {msg}", f"parameters.{name}")
            else:
                problem(f"parameters do not match the flow's signature: {line}", "parameters")
    return params


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled


def _unknown_environment(name: str, known: list[str], field_name: str) -> tuple[str, str, str]:
    fix = _did_you_mean(name, known) or f"use a known one, or add infra/environments/{name}.toml"
    return f"unknown environment '{name}' (known: {', '.join(known)})", field_name, fix


def _did_you_mean(name: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else None


def _image(ctx: _Context, package: str, image_name: str, config: DeploymentConfig) -> str:
    registry = ctx.facts.environment.image_registry
    tag = ctx.facts.image_tags.get(package) or ctx.facts.default_tag
    name = config.image or image_name
    if registry and "/" not in name:
        name = f"{registry}/{name}"
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name = f"{name}:{tag}"
    return name


def _first_line(text: str | None) -> str | None:
    return text.strip().splitlines()[0] if text and text.strip() else None
