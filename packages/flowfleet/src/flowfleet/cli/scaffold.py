"""`flowfleet new TEAM`: a new team package, ready to decorate flows in."""

from __future__ import annotations

import difflib
import re

import typer

from flowfleet.cli import app, fail
from flowfleet.plugins import load_plugins
from flowfleet.session import Session

PYPROJECT = """\
[project]
name = "{team}-flows"
version = "0.1.0"
description = "The {team} team's Prefect flows."
requires-python = ">=3.11"
dependencies = ["flowfleet", "prefect>=3.9,<4"]

[project.entry-points.flowfleet]
{team} = "{module}:registry"

[tool.flowfleet]
image = "{team}-flows"
default_infra = "{infra}"

[tool.uv.sources]
flowfleet = {{ workspace = true }}

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/{module}"]
"""

INIT = '''"""The {team} team's flows.

Decorate a flow with @registry(...) to deploy it.
"""

from flowfleet import Registry

registry = Registry()
'''

FLOW = """from prefect import flow

{first_party}


@registry(DeploymentConfig(cron="0 7 * * *", timezone="UTC"))
@flow(name="{team}-hello")
def hello(name: str = "world") -> str:
    return f"hello {{name}}"
"""


# Letters and digits in dash-separated words; short enough that every generated line
# stays within the repository's line length (100), so ruff passes on the new package.
TEAM_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
MAX_TEAM_LENGTH = 40


# Names users reach for that are another type's (shown only when that type is installed).
INFRA_ALIASES = {"k8s": "kubernetes", "kube": "kubernetes", "fargate": "ecs", "process": "worker"}


def team_problem(team: str, members: set[str]) -> str | None:
    """Why `team` cannot name a new package, with the name to use instead; None if it can."""
    shown = repr(team)  # a newline in the argument stays on one line
    suggestion = re.sub(r"[^a-z0-9]+", "-", team.lower()).strip("-").removesuffix("-flows")
    hint = f" (fix: did you mean '{suggestion}'?)" if _valid(suggestion) else ""
    if not _valid(team):
        return (
            f"team name {shown} must be lower case letters, digits and dashes (a letter "
            f"first, single dashes between words, at most {MAX_TEAM_LENGTH} characters){hint}"
        )
    if team.endswith("-flows"):
        return (
            f"team name {shown} ends in '-flows', which the package name adds ({team}-flows){hint}"
        )
    if f"{team}-flows" in members:
        return f"the workspace already has a package {team}-flows (fix: pick another team name)"
    return None


def infra_problem(infra: str, known: list[str]) -> str | None:
    if infra in known:
        return None
    close = INFRA_ALIASES.get(infra.lower())
    close = close if close in known else (difflib.get_close_matches(infra, known, n=1) or [None])[0]
    hint = f" (fix: did you mean '{close}'?)" if close else ""
    return f"unknown infra type {infra!r} (known: {', '.join(known)}){hint}"


def _valid(team: str) -> bool:
    return bool(TEAM_NAME.fullmatch(team)) and len(team) <= MAX_TEAM_LENGTH


def flow_module(team: str, module: str) -> str:
    """The example flow. Its two first-party imports are in isort's order: the team's
    module sorts before `flowfleet` for names like `analytics` or `billing`."""
    imports = sorted([f"from {module} import registry", "from flowfleet import DeploymentConfig"])
    return FLOW.format(team=team, first_party="\n".join(imports))


@app.command()
def new(
    team: str = typer.Argument(..., help="Team name: lower case letters, digits and dashes."),
    infra: str = typer.Option("ecs", help="The package's default infra type."),
) -> None:
    """Create flows/<team>: a package with a registry, an example flow and its entry point."""
    workspace = Session().workspace
    wrong = team_problem(team, set(workspace.members)) or infra_problem(
        infra, load_plugins().infra_types.names
    )
    if wrong:  # also keeps anything but a checked name out of the pyproject
        raise fail(wrong)
    target = workspace.root / "flows" / team
    if target.exists():
        raise fail(f"{target} already exists")
    module = f"{team.replace('-', '_')}_flows"
    src = target / "src" / module
    src.mkdir(parents=True)
    (target / "pyproject.toml").write_text(PYPROJECT.format(team=team, module=module, infra=infra))
    (src / "__init__.py").write_text(INIT.format(team=team))
    (src / "hello.py").write_text(flow_module(team, module))
    print(f"created {target.relative_to(workspace.root)}")
    print(
        f'next: add "flows/{team}" to [tool.uv.workspace] members in pyproject.toml, '
        "then run `uv sync --all-packages`"
    )
