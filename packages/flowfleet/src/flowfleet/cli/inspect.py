"""Read-only commands: `list`, `validate`, `plugins`."""

from __future__ import annotations

from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table

from flowfleet import annotations, scope, terminal, worker_images
from flowfleet.cli import app, fail
from flowfleet.cli.scoping import PACKAGE
from flowfleet.json_output import print_json, print_json_array
from flowfleet.problems import FlowfleetError, Problem
from flowfleet.session import Session


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def _console() -> Console:
    """Rich's console; when piped (CI logs, tests) wide enough that names are not cut."""
    return terminal.console(width=200)


ENV_OPTION = typer.Option(
    ..., "--env", "-e", help="Environment name (infra/environments/<env>.toml)."
)


@app.command("list")
def list_deployments(
    env: str = ENV_OPTION,
    output: ListFormat = typer.Option(ListFormat.table, "--output", "-o"),
    package: list[str] = PACKAGE,
) -> None:
    """Show every deployment the environment should hold, resolved, without a server."""
    session = Session()
    only = scope.chosen(session.loaded_plugins, package)
    environment = session.environment(env)
    resolution = scope.narrowed(
        session.resolve(environment, cached=True), only, session.loaded_plugins
    )
    runs = worker_images.runs_in(session, environment, resolution.deployments)
    if output is ListFormat.json:
        print_json_array({**d.listing(), "runs": runs[d.full_name]} for d in resolution.deployments)
    else:
        table = Table(title=terminal.literal(f"Deployments for {env}"))
        for column in (
            "Deployment",
            "Package",
            "Work pool",
            "Infra",
            "Image",
            "Storage",
            "Schedule",
            "Paused",
        ):
            table.add_column(column, overflow="fold")  # an image reference is never cut
        for d in resolution.deployments:
            schedule = ", ".join(s.describe() for s in d.schedules) or "-"
            cells = (
                d.full_name,
                d.package,
                d.work_pool,
                d.infra,
                d.image or runs[d.full_name],
                f"git @ {d.commit[:12]}" if d.commit else d.storage,
                schedule,
                "yes" if d.paused else "no",
            )
            table.add_row(*map(terminal.literal, cells))  # shown as written, never markup
        _console().print(table)
    if resolution.problems:
        raise fail(*resolution.problems)


@app.command()
def validate(
    env: str | None = typer.Option(None, "--env", "-e", help="Check one environment only."),
    output: ListFormat = typer.Option(
        ListFormat.table, "--output", "-o", help="table (lines) or json (one object per problem)."
    ),
    package: list[str] = PACKAGE,
) -> None:
    """Check every package, flow and environment; list all problems, exit 1 on any.

    With GITHUB_ACTIONS=true, each problem is also printed as an `::error file=,line=::`
    workflow command, which GitHub shows on that line of the pull request's diff.
    """
    session = Session()
    only = scope.chosen(session.loaded_plugins, package)
    names = [env] if env else session.known_environments
    found: dict[str, Problem] = {}
    count = 0
    environments = []
    for name in names:
        try:
            environments.append(session.environment(name))
        except FlowfleetError as exc:
            found.update((str(p), p) for p in exc.problems if str(p) not in found)
    # One import of the fleet for every environment; a package every cache holds skips it.
    for resolution in session.resolve_each(environments, cached=True, collect=True):
        resolution = scope.narrowed(resolution, only, session.loaded_plugins)
        count += len(resolution.deployments)
        found.update((str(p), p) for p in resolution.problems if str(p) not in found)
    problems = list(found.values())
    root = session.workspace.root
    if output is ListFormat.json:
        print_json(
            {
                "ok": not problems,
                "environments": names,
                "deployments": count,
                "problems": [annotations.problem_json(p, root) for p in problems],
            }
        )
    elif annotations.in_github_actions():
        for problem in problems:
            print(annotations.workflow_command(problem, root))
    if problems:
        raise fail(*problems)
    if output is ListFormat.table:
        print(f"ok: {count} deployments across {len(names)} environment(s): {', '.join(names)}")


@app.command()
def plugins(
    output: ListFormat = typer.Option(ListFormat.table, "--output", "-o"),
) -> None:
    """Show each plugin, its version, and the infra types and registries it contributes."""
    session = Session()
    loaded = session.fleet.plugins
    rows = []
    for name, info in loaded.info.items():
        infra, registries = loaded.contributions(name)
        rows.append(
            {
                "name": name,
                "distribution": info.distribution,
                "version": info.version,
                "infra_types": infra,
                "registries": registries,
            }
        )
    if output is ListFormat.json:
        print_json(rows)
    else:
        table = Table(title="flowfleet plugins")
        for column in ("Plugin", "Distribution", "Version", "Infra types", "Registries"):
            table.add_column(column)
        for row in rows:
            cells = (
                row["name"],
                row["distribution"] or "-",
                row["version"] or "-",
                ", ".join(row["infra_types"]) or "-",
                ", ".join(row["registries"]) or "-",
            )
            table.add_row(*map(terminal.literal, cells))
        _console().print(table)
    if loaded.problems:
        raise fail(*loaded.problems)
