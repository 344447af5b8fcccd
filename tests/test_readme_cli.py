"""The README's claims about options match the CLI: every `--option` written on a
`flowfleet <command>` line of a code block, or in a sentence naming the command, exists."""

from __future__ import annotations

import re

import typer

from conftest import ROOT
from flowfleet.cli import _register_commands, app

README = ROOT / "README.md"


def commands() -> dict[str, set[str]]:
    """`list` -> its options; `images tags` -> its options; every command and sub-command."""
    _register_commands()
    root = typer.main.get_command(app)
    found: dict[str, set[str]] = {}

    def walk(command, prefix: str) -> None:
        if hasattr(command, "commands"):  # a group (typer bundles its own click)
            for name, sub in command.commands.items():
                walk(sub, f"{prefix} {name}".strip())
        else:
            found[prefix] = {o for p in command.params for o in p.opts if o.startswith("--")}

    walk(root, "")
    return found


def claims(text: str) -> list[tuple[str, str, str]]:
    """(command, option, line) for each `flowfleet CMD ... --opt` in the README's code."""
    known = commands()
    out = []
    for line in text.splitlines():
        for match in re.finditer(r"flowfleet ((?:images )?[a-z]+)([^#`]*)", line):
            command, rest = match.group(1), match.group(2)
            if command not in known:
                continue
            if "--" in rest.split(" -- ")[0]:
                for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest.split(" -- ")[0]):
                    out.append((command, option, line))
    return out


def test_every_option_the_readme_shows_exists():
    known = commands()
    found = claims(README.read_text())
    assert len(found) > 20  # the check reads the README, not nothing
    wrong = [(c, o, line) for c, o, line in found if o not in known[c]]
    assert wrong == [], wrong


def test_the_check_catches_an_option_a_command_lacks():
    """The old README said `--image-tag` works on `list`; it does not, and this sees it."""
    known = commands()
    assert "--image-tag" not in known["list"] and "--image-tag" in known["images tags"]
    found = claims("uv run flowfleet list --env prod --image-tag x")
    assert [(c, o) for c, o, _ in found] == [("list", "--env"), ("list", "--image-tag")]
    assert [(c, o) for c, o, _ in found if o not in known[c]] == [("list", "--image-tag")]
