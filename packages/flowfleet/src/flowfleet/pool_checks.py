"""A deployment's job against its environment's declared pool, at validate.

When `[pools.<key>]` declares the deployment's pool, its job variables are checked
against the declared template (the file, else the stock one with the declared
defaults set), its `work_queue` against the declared queues, and the declared
variables against the template (a misspelt one would be ignored by the worker).
"""

from __future__ import annotations

import difflib
from typing import Any

from flowfleet.environments import Environment
from flowfleet.infra.base import InfraConfig, JobProblem
from flowfleet.infra.templates import check_job, stock_template
from flowfleet.pool_spec import declared_key


def check_pool_job(
    env: Environment,
    infra: InfraConfig,
    package: str,
    work_pool: str,
    pool_type: str,
    job_variables: dict[str, Any],
) -> tuple[list[JobProblem], list[JobProblem]]:
    """(problems with the deployment's job variables, problems with the pool declaration).

    The second list is about the environment file, the same for every deployment on
    the pool: the caller reports it once.
    """
    if env.single_pool:  # laptop mode runs every type on one process pool: nothing to check
        return [], []
    key = declared_key(env, work_pool, package)
    settings = env.pools[key] if key else None
    if settings is None:
        return check_job(infra, pool_type, job_variables), []
    base = settings.template_content or stock_template(type(infra), pool_type)
    if not base:  # no worker package to take the stock template from: nothing to check
        return [], []
    declared = [
        JobProblem(
            f"pools.{key}.variables.{name}",
            f"'{name}' is not a job variable of pool '{work_pool}''s template",
            _did_you_mean(name, base),
        )
        for name in settings.unknown_variables(base)
    ]
    template = settings.merged_template(base)
    return check_job(infra, pool_type, job_variables, template=template), declared


def check_work_queue(
    env: Environment, package: str, work_pool: str, work_queue: str | None
) -> JobProblem | None:
    """A `work_queue` the pool's declared queues lack (when it declares any)."""
    key = declared_key(env, work_pool, package)
    queues = env.pools[key].queues if key else {}
    if work_queue in (None, "default") or not queues or work_queue in queues:
        return None
    return JobProblem(
        "work_queue",
        f"work queue '{work_queue}' is not declared for pool '{work_pool}' "
        f"(declared: default, {', '.join(sorted(queues))})",
        f"declare it under [pools.{key}.queues.{work_queue}] or pick a declared queue",
    )


def _did_you_mean(name: str, template: dict[str, Any]) -> str:
    known = list(template.get("variables", {}).get("properties", {}))
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(sorted(known))}"
