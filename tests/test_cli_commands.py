"""A command imports only its own CLI modules, so the map that says which those are
must match what each module registers."""

from __future__ import annotations

import pytest
import typer

from flowfleet.cli import COMMANDS, _command_name, _register_commands, app


def registered_by_module() -> dict[str, set[str]]:
    """Top-level command name -> the `flowfleet.cli` modules whose functions it runs."""
    _register_commands()
    found: dict[str, set[str]] = {}
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        callbacks = [c.callback for c in getattr(command, "commands", {}).values()]
        callbacks = callbacks or [command.callback]
        found[name] = {_module_of(cb) for cb in callbacks}
    return found


def _module_of(callback) -> str:
    wrapped = getattr(callback, "__wrapped__", callback)
    return wrapped.__module__.removeprefix("flowfleet.cli.")


def test_the_command_map_names_every_command_and_the_modules_it_needs() -> None:
    actual = registered_by_module()
    assert set(actual) == set(COMMANDS)
    for name, modules in actual.items():
        assert modules == set(COMMANDS[name]), name


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["plan", "--env", "prod"], "plan"),
        (["--disable-plugin", "audit", "deploy", "--env", "dev"], "deploy"),
        (["--disable-plugin=audit", "images", "tags"], "images"),
        (["--help"], None),
        ([], None),
        (["--disable-plugin"], None),
    ],
)
def test_the_command_is_read_past_the_top_level_options(argv, command) -> None:
    assert _command_name(argv) == command
