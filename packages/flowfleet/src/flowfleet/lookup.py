"""A deployment named on the command line, found the way `deploy` names it.

`run` and `render` both take NAME: the server name (`flow/name-dev`), the declared
name (`flow/name`, given the environment's `deployment_name` pattern and branch
suffix), or a bare deployment or flow name when only one matches.
"""

from __future__ import annotations

import difflib

from flowfleet import naming
from flowfleet.desired import DesiredDeployment
from flowfleet.environments import Environment
from flowfleet.problems import FlowfleetError


def find_deployment(
    deployments: list[DesiredDeployment],
    environment: Environment,
    branch: str | None,
    name: str,
) -> DesiredDeployment:
    """The deployment NAME means; a FlowfleetError with a did-you-mean when none does."""
    flow, _, declared = name.partition("/")
    wanted = {name}
    if declared:
        wanted.add(f"{flow}/{naming.server_name(environment, declared, branch)}")
    for deployment in deployments:
        if deployment.full_name in wanted:
            return deployment
    for key in ("name", "flow"):
        matches = [d for d in deployments if getattr(d, key) == name]
        if len(matches) == 1:
            return matches[0]
    names = sorted(d.full_name for d in deployments)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else " (see `flowfleet list --env ENV`)"
    raise FlowfleetError(f"no deployment '{name}' in environment '{environment.name}'{hint}")
