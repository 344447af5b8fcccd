"""`flowfleet import`: existing deployments (prefect.yaml or a live server) -> decorators."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from flowfleet.cli import app, fail
from flowfleet.connection import api_url_for
from flowfleet.environments import Environment
from flowfleet.errors import describe_error
from flowfleet.importer.existing import ExistingDeployment
from flowfleet.importer.locate import find_team, teams
from flowfleet.importer.prefect_yaml import read_prefect_yaml
from flowfleet.importer.run import import_deployments
from flowfleet.importer.server import read_pool_types, read_server
from flowfleet.session import Session


@app.command("import")
def import_(
    from_file: Path | None = typer.Option(
        None, "--from", metavar="FILE", help="A prefect.yaml to import from."
    ),
    from_server: bool = typer.Option(
        False, "--from-server", help="Import the deployments on the environment's server."
    ),
    env: str | None = typer.Option(
        None,
        "--env",
        "-e",
        help="Environment: its server (--from-server), its pools map back to infra types.",
    ),
    team: str | None = typer.Option(
        None, "--team", help="Import only into this team package (entrypoints may be relative)."
    ),
    flow: str | None = typer.Option(
        None, "--flow", metavar="GLOB", help="Only flows (or flow/deployment) matching GLOB."
    ),
    write: bool = typer.Option(False, "--write", help="Change the files; default: print the diff."),
) -> None:
    """Write @registry(DeploymentConfig(...)) above each deployment's flow; a dry run by default.

    What DeploymentConfig cannot express yet is left out, commented above the
    decorator and listed at the end; the command then exits 1.
    """
    if (from_file is None) == (not from_server):
        raise fail("give --from FILE or --from-server, one of them")
    if from_server and env is None:
        raise fail("--from-server needs --env ENV: the environment whose server to read")
    session = Session()
    workspace = session.workspace
    chosen = None
    if team is not None:
        chosen = find_team(workspace, team)
        if chosen is None:
            known = ", ".join(sorted(teams(workspace))) or "none"
            raise fail(f"unknown team '{team}' (known: {known})")
    environment = session.environment(env) if env else None
    skipped = 0
    if from_file is not None:
        existing = read_prefect_yaml(from_file)
        bases = [from_file.resolve().parent]
        if environment is not None:
            _add_pool_types(existing, environment)
    else:
        assert environment is not None
        existing, skipped = _read_server(api_url_for(environment), workspace.project)
        bases = [workspace.root, Path.cwd()]
    result = import_deployments(
        existing,
        workspace,
        environment=environment,
        infra_types=session.loaded_plugins.infra_types.types,
        bases=bases,
        team=chosen,
        flow_glob=flow,
    )
    sys.stdout.write(result.diff())
    if write:
        result.write()
    action = "imported" if write else "would import (dry run; --write changes the files)"
    summary = f"{action}: {len(result.imported)} deployments into {len(result.changed)} files"
    if result.unchanged:
        summary += f"; {len(result.unchanged)} already declared"
    if skipped:
        summary += f"; {skipped} already managed by this project skipped"
    print(summary, file=sys.stderr)
    if result.problems:
        raise fail(*result.problems)


def _read_server(api_url: str, project: str) -> tuple[list[ExistingDeployment], int]:
    import httpx

    try:
        return asyncio.run(read_server(api_url, project))
    except (httpx.HTTPError, OSError) as exc:
        raise fail(describe_error(exc, api_url)) from None


def _add_pool_types(existing: list[ExistingDeployment], environment: Environment) -> None:
    """Type the pools from the environment's server, when it answers: a pool that
    `[pools]` does not name then still maps to the right infra type."""
    import httpx

    url = environment.effective_api_url()
    if not url:
        return
    try:
        types = asyncio.run(read_pool_types(url.rstrip("/")))
    except (httpx.HTTPError, OSError) as exc:
        print(
            f"note: could not read work pools from {url} ({type(exc).__name__}); pools "
            "that [pools] does not name keep the package's default infra type",
            file=sys.stderr,
        )
        return
    for deployment in existing:
        deployment.pool_type = types.get(deployment.work_pool or "")
