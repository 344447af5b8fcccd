"""`flowfleet render`: the job a worker would submit for one deployment. Reads no server."""

from __future__ import annotations

import difflib
import json
from enum import StrEnum

import typer

from flowfleet.cli import app, fail
from flowfleet.cli.inspect import ENV_OPTION
from flowfleet.desired import DesiredDeployment
from flowfleet.session import Session


class RenderFormat(StrEnum):
    yaml = "yaml"
    json = "json"


@app.command()
def render(
    name: str = typer.Argument(..., help="flow/deployment, or a deployment or flow name."),
    env: str = ENV_OPTION,
    output: RenderFormat = typer.Option(RenderFormat.yaml, "--output", "-o"),
) -> None:
    """Show the job the worker will submit for NAME, built by the worker's own code.

    ECS: the task definition and the RunTask request; Kubernetes: the Job manifest;
    process: the command and environment. Secrets are masked; nothing is written.
    """
    from flowfleet.infra.jobs import render_job

    session = Session()
    environment = session.environment(env)
    resolution = session.resolve(environment)
    deployment = _find(name, resolution.deployments)
    if deployment is None:
        mine = [p for p in resolution.problems if p.flow and name in p.flow]
        if mine:
            raise fail(*mine)
        names = [d.full_name for d in resolution.deployments]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else " (see `flowfleet list --env ENV`)"
        raise fail(f"no deployment '{name}' in environment '{env}'{hint}")
    infra_type = session.fleet.plugins.infra_types.types[deployment.infra]
    job = render_job(deployment, infra_type, api_url=environment.effective_api_url())
    if output is RenderFormat.json:
        print(json.dumps(job, indent=2))
    else:
        import yaml

        print(yaml.safe_dump(job, sort_keys=False, width=100), end="")


def _find(name: str, deployments: list[DesiredDeployment]) -> DesiredDeployment | None:
    """By full name; else the one deployment with that name, or of that flow."""
    for d in deployments:
        if d.full_name == name:
            return d
    for key in ("name", "flow"):
        matches = [d for d in deployments if getattr(d, key) == name]
        if len(matches) == 1:
            return matches[0]
    return None
