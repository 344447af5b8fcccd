"""Deployment names per environment: how environments share one Prefect server.

A self-hosted Prefect server has one workspace, so teams often run dev and prod
on one server. Identity on the server is `<flow>/<deployment name>`, so two
environments that deploy the same flow need different names: an environment file
sets the pattern, `deployment_name = "{name}-{env}"`. The default, `{name}`,
keeps names as declared. Ownership labels stay per environment, so each
environment's prune still touches only its own deployments.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowfleet.environments import Environment

PLACEHOLDERS = ("name", "env", "branch")
DEFAULT = "{name}"


def check_pattern(pattern: str) -> str:
    """The pattern, or ValueError naming the placeholder that is not known or missing."""
    fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    for field in fields:
        if field not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValueError(f"'{pattern}' uses {{{field}}}; known placeholders: {known}")
    if "name" not in fields:
        raise ValueError(f"'{pattern}' must contain {{name}}, or every deployment gets one name")
    return pattern


def server_name(environment: Environment, declared: str, branch: str | None) -> str:
    """`declared` (a DeploymentConfig's `name`) as `environment` names it on the server
    when deployed from `branch`: its pattern, then a branch lane's suffix."""
    from flowfleet import branches  # branches imports environments, which imports this

    name = declared
    if environment.deployment_name != DEFAULT:
        name = environment.deployment_name.format(
            name=declared,
            env=environment.name,
            branch=branches.slug(branch or environment.default_branch),
        )
    lane = branches.lane(environment, branch)
    return branches.deployment_name(name, lane) if lane else name
