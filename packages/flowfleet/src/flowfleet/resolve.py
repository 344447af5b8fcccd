"""`resolve`: (flow, DeploymentConfig) pairs -> DesiredDeployment records for one environment.

Pure: it takes the loaded fleet and the gathered `Facts`, and runs no git, reads no
environment variable and uses no network. Problems are collected, never raised.
One registration goes through small steps: names checked (`name_checks`), environment
and branch filters, the effective config (default infra, override), schedules
(`schedule_checks`), infra, parameters (`parameter_checks`), storage, placement (pool,
image, job variables: `placement`), the record, the plugins'
`flowfleet_adjust_deployment`, then what the server would refuse (`acceptance`).
"""

from __future__ import annotations

import fnmatch
import inspect
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from flowfleet import acceptance, branches, naming
from flowfleet import desired as ownership
from flowfleet.config import DeploymentConfig, PendingInfra
from flowfleet.desired import DesiredDeployment, Schedule
from flowfleet.environments import Environment
from flowfleet.errors import describe_error
from flowfleet.facts import Facts, Storage
from flowfleet.loader import Fleet
from flowfleet.name_checks import (
    check_names,
    duplicate_name,
    job_variable_field,
    overridden_field,
    override_of,
)
from flowfleet.parameter_checks import check_parameters
from flowfleet.placement import Placement, default_infra, place, validated_infra
from flowfleet.pool_checks import check_pool_job, check_work_queue
from flowfleet.problems import Problem
from flowfleet.registry import Registration
from flowfleet.schedule_checks import checked_schedules
from flowfleet.team import Team, team_for
from flowfleet.trigger_checks import check_references
from flowfleet.triggers import resolve_triggers


@dataclass
class Resolution:
    environment: Environment
    deployments: list[DesiredDeployment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Context:
    """What every step of one resolution shares."""

    fleet: Fleet
    facts: Facts
    reported: set[tuple[str, str]] = field(default_factory=set)  # (package, what): once each


def resolve(
    fleet: Fleet,
    facts: Facts,
    *,
    resolved: Iterable[DesiredDeployment] = (),
    whole_fleet: bool = True,
) -> Resolution:
    """Resolve every registration of `fleet` for the environment of `facts`.

    `resolved` are deployments of packages resolved earlier (from the cache); they
    take part in the duplicate-name check like the rest: packages cached by separate
    processes (prewarm.py) never saw each other's names. Without `whole_fleet` (a
    prewarm worker's share), triggers are not checked against the deployments they run
    after, which may be in another share; the command checks them across the fleet.
    """
    ctx = Context(fleet, facts)
    environment = facts.environment
    result = Resolution(environment, problems=list(fleet.problems))
    result.problems.extend(fleet.plugins.infra_types.problems)
    seen: dict[str, DesiredDeployment] = {}
    for deployment in itertools.chain(resolved, _resolve_each(ctx, result.problems)):
        if deployment.full_name in seen:
            first = seen[deployment.full_name]
            result.problems.append(duplicate_name(first, deployment, environment.name))
            continue
        seen[deployment.full_name] = deployment
        result.deployments.append(deployment)
    result.deployments.sort(key=lambda d: d.full_name)
    if whole_fleet:
        result.problems.extend(check_references(result.deployments, environment.name))
    return result


def _resolve_each(ctx: Context, problems: list[Problem]) -> Iterator[DesiredDeployment]:
    """Each registration of the fleet in turn, its problems added as it goes."""
    for package, registration in ctx.fleet.registrations():
        own: list[Problem] = []  # `_resolve_one` drops a registration that has any
        deployment = _resolve_one(ctx, package, registration, own)
        problems.extend(own)
        if deployment is not None:
            yield deployment


def _resolve_one(
    ctx: Context, package: str, reg: Registration, problems: list[Problem]
) -> DesiredDeployment | None:
    """One registration in one environment: None when it is not deployed here or is wrong."""
    env = ctx.facts.environment
    full_name = f"{reg.flow.name}/{reg.config.name}"

    def problem(message: str, field_name: str | None = None, fix: str | None = None) -> None:
        field_name = overridden_field(reg.config, env.name, field_name)  # names the env
        problems.append(Problem(message, package, full_name, field_name, fix, reg.source))

    check_names(reg.config, ctx.facts.known_environments, problem)
    if reg.config.environments is not None and env.name not in reg.config.environments:
        return None
    config = _effective_config(ctx, package, reg.config, problems, problem)
    if config is None or not _on_branch(config, ctx.facts.branch):
        return None

    schedules = checked_schedules(config, problem)
    _check_labels(config, problem)
    infra = validated_infra(ctx, package, config, problem, override_of(reg.config, env.name))
    parameters = check_parameters(reg, config, problem)
    triggers = resolve_triggers(
        config.triggers,
        lambda flow, name: f"{flow}/{naming.server_name(env, name, ctx.facts.branch)}",
        problem,
    )
    storage = _storage(ctx, package, problems)
    team = _team(ctx, package, problems)
    if problems or infra is None or storage is None:
        return None
    placement = place(ctx, package, config, infra, storage, problem)
    if placement is None:
        return None

    deployment = _deployment(ctx, package, reg, config, placement, storage, schedules, parameters)
    deployment.user_labels = {**config.labels, **team.owner_labels()}  # the package's owners
    deployment.triggers = triggers
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
    jobs, pool_problems = check_pool_job(
        env, infra, package, placement.work_pool, placement.pool_type, deployment.job_variables
    )
    queue = check_work_queue(env, package, placement.work_pool, config.work_queue)
    if queue is not None:
        problem(queue.message, queue.field, queue.fix)
    for job_problem in jobs:
        field_name = job_variable_field(reg.config, env.name, job_problem.field)
        problem(job_problem.message, field_name, job_problem.fix)
    for job_problem in pool_problems:  # about the environment file: once per pool
        if (placement.work_pool, job_problem.field) not in ctx.reported:
            ctx.reported.add((placement.work_pool, job_problem.field))
            problem(job_problem.message, job_problem.field, job_problem.fix)
    if problems:
        return None
    return deployment.finalise()


def _effective_config(
    ctx: Context,
    package: str,
    config: DeploymentConfig,
    problems: list[Problem],
    problem: Any,
) -> DeploymentConfig | None:
    """The config with the package's default infra and this environment's override laid on."""
    env = ctx.facts.environment
    if config.infra is None:
        # The package's default type, given here so a partial infra override merges into it.
        config = config.model_copy(update={"infra": PendingInfra(type=default_infra(ctx, package))})
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


def _deployment(
    ctx: Context,
    package: str,
    reg: Registration,
    config: DeploymentConfig,
    placement: Placement,
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
        work_queue=None if config.work_queue == "default" else config.work_queue,
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


def _storage(ctx: Context, package: str, problems: list[Problem]) -> Storage | None:
    """The package's storage (gathered in the facts); its problem reported once per package."""
    storage = ctx.facts.storage_of(package)
    if not storage.problems:
        return storage
    if (package, "storage") not in ctx.reported:
        ctx.reported.add((package, "storage"))
        problems.extend(storage.problems)
    return None


def _team(ctx: Context, package: str, problems: list[Problem]) -> Team:
    """The package's owners and alerts (team.py); their problems reported once per package."""
    team, found = team_for(ctx.facts, package)
    if found and (package, "team") not in ctx.reported:
        ctx.reported.add((package, "team"))
        problems.extend(found)
    return team


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


def _first_line(text: str | None) -> str | None:
    return text.strip().splitlines()[0] if text and text.strip() else None
