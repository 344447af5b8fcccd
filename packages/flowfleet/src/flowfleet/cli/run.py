"""`flowfleet run NAME --env ENV`: a flow run of a deployment, found as `deploy` names it."""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import typer

from flowfleet.cli import app, fail
from flowfleet.cli.deploy import BRANCH, ENV, announce
from flowfleet.client import ApiClient
from flowfleet.engine import Target
from flowfleet.errors import describe_error
from flowfleet.lookup import find_deployment
from flowfleet.runs import follow, start_run


@app.command()
def run(
    name: str = typer.Argument(..., help="flow/deployment, as declared (or as on the server)."),
    env: str = ENV,
    param: list[str] = typer.Option(
        [], "--param", "-p", help="k=v, repeatable; v is read as JSON when it parses."
    ),
    watch: bool = typer.Option(
        False, "--watch", help="Wait for a final state; exit 0 only if it is Completed."
    ),
    timeout: float = typer.Option(3600, "--timeout", help="With --watch: seconds to wait."),
    branch: str | None = BRANCH,
) -> None:
    """Start a flow run of one deployment on the environment's server."""
    parameters = parse_params(param)
    target = announce(Target.load(env, branch=branch))
    deployment = find_deployment(target.desired, target.environment, target.branch, name)

    async def go():
        async with ApiClient(target.api_url) as client:
            started = await start_run(client, deployment.full_name, parameters)
            state = started.state.name if started.state else "Pending"
            print(f"flow run {started.name} ({started.id}) of {deployment.full_name}: {state}")
            if not watch:
                return started
            return await follow(
                client,
                started,
                timeout=timeout,
                on_state=lambda s: print(f"  {s}", file=sys.stderr, flush=True),
            )

    try:
        final = asyncio.run(go())
    except (httpx.HTTPError, OSError) as exc:  # unreachable, refused credentials: one line
        raise fail(describe_error(exc, target.api_url)) from None
    if not watch:
        return
    if final is None:
        raise fail(f"the flow run of {deployment.full_name} was not final after {timeout:.0f}s")
    message = (final.state.message or "").strip().splitlines()
    print(f"flow run {final.name}: {final.state.name}" + (f" ({message[0]})" if message else ""))
    if not final.state.is_completed():
        raise typer.Exit(1)


def parse_params(pairs: list[str]) -> dict:
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"--param '{pair}': give key=value")
        try:
            parameters[key] = json.loads(value)
        except ValueError:
            parameters[key] = value
    return parameters
