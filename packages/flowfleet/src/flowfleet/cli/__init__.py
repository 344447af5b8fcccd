"""The `flowfleet` command. Each sub-module adds one group of commands."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from flowfleet import path_index, secrets
from flowfleet.problems import FlowfleetError

app = typer.Typer(
    name="flowfleet",
    help="Deploy a uv workspace of Prefect 3 flow packages: list, plan, apply, prune.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


# Each module adds its commands to `app` when imported. A command imports only its
# own modules: all of them cost 0.55 s a process (the importer's libcst alone 0.18 s),
# paid by every `plan` in CI. Help and unknown names import them all.
# tests/test_cli_commands.py checks this map against what each module registers.
COMMANDS: dict[str, tuple[str, ...]] = {
    "list": ("inspect",),
    "validate": ("inspect",),
    "plugins": ("inspect",),
    "new": ("scaffold",),
    "plan": ("deploy",),
    "deploy": ("deploy",),
    "pools": ("deploy",),
    "prune": ("deploy",),
    "images": ("images", "worker_images"),
    "import": ("importer",),
    "render": ("render",),
    "run": ("run",),
    "graph": ("graph",),
}
COMMAND_MODULES = tuple(dict.fromkeys(m for modules in COMMANDS.values() for m in modules))


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


def _register_commands(argv: list[str] | None = None) -> None:
    """Import the modules of the command `argv` names; every module when it names none."""
    command = _command_name(argv or [])
    for module in COMMANDS.get(command or "", COMMAND_MODULES):
        importlib.import_module(f"flowfleet.cli.{module}")


def _command_name(argv: list[str]) -> str | None:
    """The sub-command in `argv`, past the top-level options; None for `--help` and such."""
    args = iter(argv)
    for arg in args:
        if arg == "--disable-plugin":
            next(args, None)
        elif not arg.startswith("--disable-plugin="):
            return None if arg.startswith("-") else arg
    return None


def fail(*lines: object) -> typer.Exit:
    """Print each line on stderr and return the exit to raise: one line per problem."""
    for line in lines:
        print(f"error: {secrets.scrub(str(line))}", file=sys.stderr)
    return typer.Exit(1)


def main() -> None:
    secrets.guard()  # a last belt: every line printed from here on is scrubbed
    _register_commands(sys.argv[1:])
    # A bad option or value exits 1 like every other error: click's usual 2 would read
    # as "changes pending" to `plan --detailed-exitcode`.
    usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    usage_error.exit_code = 1
    try:
        with path_index.indexed_imports():  # 500 editable members: see path_index.py
            app(standalone_mode=True)
    except FlowfleetError as exc:
        raise SystemExit(fail(*exc.problems).exit_code) from None
