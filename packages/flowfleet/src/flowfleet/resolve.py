"""`resolve`: (flow, DeploymentConfig) pairs -> DesiredDeployment records for one environment.

Pure: it reads no server and no network. Problems are collected, never raised.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from flowfleet import branches, naming
from flowfleet import desired as ownership
from flowfleet.config import SCHEDULE_FIELDS, DeploymentConfig, PendingInfra
from flowfleet.desired import DesiredDeployment, Schedule
from flowfleet.environments import Environment
from flowfleet.gitstorage import GitSource, package_storage
from flowfleet.infra.base import InfraConfig
from flowfleet.loader import Fleet
from flowfleet.problems import FlowfleetError, Problem, describe_error
from flowfleet.registry import Registration
from flowfleet.workspace import Workspace

FALLBACK_INFRA = "worker"


@dataclass
class Resolution:
    environment: Environment
    deployments: list[DesiredDeployment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Context:
    fleet: Fleet
    environment: Environment
    workspace: Workspace
    known_environments: list[str]
    branch: str | None
    image_tags: Mapping[str, str]
    git: GitSource
    storage: dict[str, _Storage | None] = field(default_factory=dict)  # by package
    reported: set[tuple[str, str]] = field(default_factory=set)  # (package, what): once each


@dataclass(frozen=True)
class _Storage:
    mode: str  # "image", "git" or "local"
    pull_steps: list[dict[str, Any]] | None = None
    commit: str | None = None


def resolve(
    fleet: Fleet,
    environment: Environment,
    workspace: Workspace,
    known_environments: list[str],
    *,
    branch: str | None = None,
    image_tags: Mapping[str, str] | None = None,
    resolved: Iterable[DesiredDeployment] = (),
    git: GitSource | None = None,
) -> Resolution:
    """Resolve every registration of `fleet` for one environment.

    `resolved` are deployments of packages resolved earlier (from the cache); they
    take part in the duplicate-name check like the rest.
    """
    git = git or GitSource(workspace, environment)  # runs git only if a package needs it
    ctx = _Context(fleet, environment, workspace, known_environments, branch, image_tags or {}, git)
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
    config = reg.config
    env = ctx.environment
    full_name = f"{reg.flow.name}/{config.name}"

    def problem(message: str, field_name: str | None = None, fix: str | None = None) -> None:
        problems.append(Problem(message, package, full_name, field_name, fix, reg.source))

    known = ctx.known_environments
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
    if config.environments is not None and env.name not in config.environments:
        return None

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
    if (
        config.branches is not None
        and ctx.branch is not None
        and not any(fnmatch.fnmatchcase(ctx.branch, pattern) for pattern in config.branches)
    ):
        return None

    schedules = _schedules(config, problem)
    infra = _infra(ctx, package, config, problem)
    parameters = _parameters(reg, config, problem)
    storage = _storage(ctx, package, problems)
    if problems or infra is None or storage is None:
        return None

    # A branch deployment (branch_deployments, off the default branch) gets its own
    # name, paused schedules and a branch label, so it never meets another branch's.
    lane = branches.lane(env, ctx.branch)
    name = naming.server_name(env, config.name, ctx.branch)
    lane_labels = {ownership.BRANCH: lane} if lane else {}

    member = ctx.workspace.member(package)
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
                    problem(
                        f"git storage runs in the environment's shared runtime image, and "
                        f"{ctx.git.env_file} sets no base_image",
                        "image",
                        f'set base_image = "<registry>/<runtime>:<tag>" in {ctx.git.env_file}',
                    )
                return None
            job_variables["image"] = image
        elif infra.needs_image():
            image = _image(ctx, package, member.image_name if member else package, config)
            job_variables["image"] = image
    job_variables.update(config.job_variables)

    deployment = DesiredDeployment(
        package=package,
        flow=reg.flow.name,
        name=name,
        full_name=f"{reg.flow.name}/{name}",
        entrypoint=reg.entrypoint,
        work_pool=work_pool,
        pool_type=pool_type,
        infra=infra.type,
        image=image,
        job_variables=job_variables,
        schedules=schedules,
        paused=not config.active or lane is not None,
        parameters=parameters,
        tags=list(dict.fromkeys(config.tags)),
        labels={
            ownership.MANAGED: "true",
            ownership.PROJECT: ctx.workspace.project,
            ownership.ENV: env.name,
            ownership.PACKAGE: package,
            **lane_labels,
        },
        description=config.description or _first_line(reg.flow.description),
        version=config.version,
        concurrency_limit=config.concurrency_limit,
        pull_steps=storage.pull_steps,
        storage=storage.mode,
        commit=storage.commit,
        source=reg.source,
        signature=str(inspect.signature(reg.flow.fn)),
    )
    deployment._flow = reg.flow
    try:
        ctx.fleet.plugins.hook.flowfleet_adjust_deployment(deployment=deployment, environment=env)
    except Exception as exc:
        plugin = ctx.fleet.plugins.raised_in("flowfleet_adjust_deployment", exc)
        problem(
            f"plugin '{plugin}' raised in flowfleet_adjust_deployment: {describe_error(exc)}",
            fix=f"fix or uninstall the plugin '{plugin}'; nothing is deployed until then",
        )
        return None
    return deployment.finalise()


def _storage(ctx: _Context, package: str, problems: list[Problem]) -> _Storage | None:
    """The package's storage and, in git mode, its pull steps; a problem once per package."""
    if package not in ctx.storage:
        try:
            mode = package_storage(ctx.workspace, ctx.environment, package)
            if mode == "git":
                steps = ctx.git.pull_steps(package)
                ctx.storage[package] = _Storage(mode, steps, ctx.git.commit(package))
            else:
                ctx.storage[package] = _Storage(mode)
        except FlowfleetError as exc:
            ctx.storage[package] = None
            for p in exc.problems:
                problems.append(Problem(p.message, package, None, "storage", p.fix))
    return ctx.storage[package]


def _schedules(config: DeploymentConfig, problem: Any) -> list[Schedule]:
    from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule

    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problem(
            f"unknown timezone '{config.timezone}'",
            "timezone",
            "use an IANA name such as 'Europe/London' or 'UTC'",
        )
        return []
    set_fields = config.schedule_fields()
    if len(set_fields) > 1:
        problem(
            f"sets {' and '.join(set_fields)}; a deployment takes at most one of "
            f"{', '.join(SCHEDULE_FIELDS)}",
            "/".join(set_fields),
            "keep one, or declare a second deployment with its own name",
        )
        return []
    if config.cron is not None:
        try:
            CronSchedule(cron=config.cron, timezone=config.timezone)
        except ValidationError:
            problem(
                f"invalid cron '{config.cron}'",
                "cron",
                "use five fields, e.g. '0 9 * * *' for 09:00 daily",
            )
            return []
        return [Schedule(cron=config.cron, timezone=config.timezone)]
    if config.rrule is not None:
        try:
            RRuleSchedule(rrule=config.rrule, timezone=config.timezone)
        except ValidationError:
            problem(
                f"invalid rrule '{config.rrule}'",
                "rrule",
                "use an RFC 5545 rule, e.g. 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=8'",
            )
            return []
        return [Schedule(rrule=config.rrule, timezone=config.timezone)]
    if config.interval is not None:
        seconds = config.interval.total_seconds()
        if seconds <= 0:
            problem(f"interval must be positive, got {seconds:g}s", "interval")
            return []
        return [Schedule(interval=seconds, timezone=config.timezone)]
    return []


def _infra(
    ctx: _Context, package: str, config: DeploymentConfig, problem: Any
) -> InfraConfig | None:
    value: InfraConfig | dict[str, Any] = config.infra or {"type": _default_infra(ctx, package)}
    try:
        return ctx.fleet.plugins.infra_types.validate(value)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            for error in exc.errors():
                loc = ".".join(str(p) for p in error["loc"][1:])  # [0] is the type
                field_name = f"infra.{loc}" if loc else "infra"
                problem(error["msg"].removeprefix("Value error, "), field_name)
        else:
            problem(str(exc), "infra", "install the plugin that provides it, or use a known type")
        return None


def _default_infra(ctx: _Context, package: str) -> str:
    member = ctx.workspace.member(package)
    return (
        (member.options.get("default_infra") if member else None)
        or ctx.environment.default_infra
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
    registry = ctx.environment.image_registry
    tag = ctx.image_tags.get(package) or os.environ.get("IMAGE_TAG") or "latest"
    name = config.image or image_name
    if registry and "/" not in name:
        name = f"{registry}/{name}"
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name = f"{name}:{tag}"
    return name


def _first_line(text: str | None) -> str | None:
    return text.strip().splitlines()[0] if text and text.strip() else None
