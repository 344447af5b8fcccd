"""Names a team wrote, checked against what exists, and where an override set a value.

Environment names and override keys are checked before anything is resolved; a close
match is offered as the fix (`did_you_mean`, also used for flow parameters). A problem
found later in a value an environment's override set is reported under that override
(`job_variable_field`), so the line points at what the team wrote.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from flowfleet.config import DeploymentConfig
from flowfleet.desired import DesiredDeployment
from flowfleet.problems import Problem


def duplicate_name(first: DesiredDeployment, second: DesiredDeployment, env: str) -> Problem:
    """`second` has the full name `first` already has: the second one found is refused."""
    return Problem(
        f"two deployments have this full name in environment '{env}': at {first.source} "
        f"({first.package}) and at {second.source} ({second.package})",
        package=second.package,
        flow=second.full_name,
        field="name",
        fix="give one of them another `name`",
    )


def check_names(config: DeploymentConfig, known: list[str], problem: Any) -> None:
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
                    did_you_mean(key, fields) or "use a DeploymentConfig field name",
                )


def _unknown_environment(name: str, known: list[str], field_name: str) -> tuple[str, str, str]:
    fix = did_you_mean(name, known) or f"use a known one, or add infra/environments/{name}.toml"
    return f"unknown environment '{name}' (known: {', '.join(known)})", field_name, fix


def did_you_mean(name: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else None


def override_of(config: DeploymentConfig, env_name: str) -> dict[str, Any]:
    return config.overrides.get(env_name) or {}


def overridden_field(config: DeploymentConfig, env_name: str, field_name: str | None) -> str | None:
    """A field that this environment's override set, named under that override
    (`cron` -> `overrides.prod.cron`), so a problem in its value names the environment."""
    if not field_name or field_name.startswith("overrides."):
        return field_name
    top = re.split(r"[.\[]", field_name, maxsplit=1)[0]
    return (
        f"overrides.{env_name}.{field_name}" if top in override_of(config, env_name) else field_name
    )


def job_variable_field(config: DeploymentConfig, env_name: str, key: str) -> str:
    """Where a job variable was set: an environment's override names that environment."""
    override = override_of(config, env_name)
    if key in (override.get("job_variables") or {}):
        return f"overrides.{env_name}.job_variables.{key}"
    if isinstance(override.get("infra"), dict) and key in override["infra"]:
        return f"overrides.{env_name}.infra.{key}"
    return f"job_variables.{key}" if key in config.job_variables else f"infra.{key}"
