"""Map one existing deployment to the arguments of a `DeploymentConfig`. Pure: no I/O.

Whatever DeploymentConfig cannot express (a schedule's
max_scheduled_runs, templated values, an automation that does more than run the
deployment) is left out and reported as a problem, with a comment above the
decorator: the import never guesses. Schedules (`schedules`), the work pool's infra
type (`pools`) and triggers (`triggers`) are mapped in their own modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from flowfleet.config import ConcurrencyOptions
from flowfleet.environments import Environment
from flowfleet.importer.existing import ExistingDeployment
from flowfleet.importer.pools import infra_arguments
from flowfleet.importer.pysource import Call
from flowfleet.importer.schedules import schedule_arguments
from flowfleet.importer.templates import Template, strip_templates
from flowfleet.importer.triggers import trigger_arguments
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
    args += schedule_arguments(existing.schedules, problem)
    if existing.paused:
        args.append(("active", False))
    if parameters:
        args.append(("parameters", parameters))

    infra, work_pool_override, job_variables, image = infra_arguments(
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
        args.append(("work_queue", existing.work_queue))
    args += trigger_arguments(existing.triggers, problem)
    for key in existing.unsupported:
        problem(key, f"'{key}' has no flowfleet equivalent and was left out", "drop it")
    return Mapped(Call("DeploymentConfig", "flowfleet", tuple(args)), problems, notes)


def _description(description: str | None, docstring: str | None) -> str | None:
    """What to write, if anything: flowfleet defaults to the docstring's first line,
    Prefect to the whole docstring."""
    expected = description or docstring or None
    first_line = docstring.strip().splitlines()[0] if docstring and docstring.strip() else None
    return None if expected == first_line else expected


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
