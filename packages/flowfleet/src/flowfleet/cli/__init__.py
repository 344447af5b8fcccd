"""The `flowfleet` command. Each sub-module adds one group of commands."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from flowfleet import secrets
from flowfleet.problems import FlowfleetError

app = typer.Typer(
    name="flowfleet",
    help="Deploy a uv workspace of Prefect 3 flow packages: list, plan, apply, prune.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


# Each module adds its commands to `app` when imported.
COMMAND_MODULES = (
    "inspect",
    "scaffold",
    "deploy",
    "images",
    "worker_images",
    "importer",
    "render",
    "run",
    "graph",
)


@app.callback()
def _options(
    disable_plugin: list[str] = typer.Option(
        [],
        "--disable-plugin",
        metavar="NAME",
        help="Do not load this plugin (repeatable; as `flowfleet plugins` names it). "
        "FLOWFLEET_DISABLE_PLUGINS takes a comma list.",
    ),
) -> None:
    """Deploy a uv workspace of Prefect 3 flow packages: list, plan, apply, prune."""
    if disable_plugin:
        from flowfleet.plugins import DISABLE_VAR, disabled_plugins

        os.environ[DISABLE_VAR] = ",".join(dict.fromkeys([*disabled_plugins(), *disable_plugin]))


def _register_commands() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(f"flowfleet.cli.{module}")


def fail(*lines: object) -> typer.Exit:
    """Print each line on stderr and return the exit to raise: one line per problem."""
    for line in lines:
        print(f"error: {secrets.scrub(str(line))}", file=sys.stderr)
    return typer.Exit(1)


def main() -> None:
    secrets.guard()  # a last belt: every line printed from here on is scrubbed
    _register_commands()
    # A bad option or value exits 1 like every other error: click's usual 2 would read
    # as "changes pending" to `plan --detailed-exitcode`.
    usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    usage_error.exit_code = 1
    try:
        app(standalone_mode=True)
    except FlowfleetError as exc:
        raise SystemExit(fail(*exc.problems).exit_code) from None
