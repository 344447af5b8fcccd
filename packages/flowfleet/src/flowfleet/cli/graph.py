"""`flowfleet graph`: the cross-deployment trigger graph of one environment, as Mermaid."""

from __future__ import annotations

import typer

from flowfleet.cli import app, fail
from flowfleet.graph import mermaid
from flowfleet.session import Session


@app.command()
def graph(
    env: str = typer.Option(..., "--env", "-e", help="Environment name."),
) -> None:
    """Print which deployment runs after which (triggers) as a Mermaid flowchart; no server."""
    session = Session()
    resolution = session.resolve(session.environment(env))
    if resolution.problems:
        raise fail(*resolution.problems)
    print(mermaid(resolution.deployments), end="")
