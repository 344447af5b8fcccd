"""`--package` and the partial load, as `plan`, `deploy` and `prune` print them.

A package that did not load is listed first, one `error:` line per problem (package,
flow, field, fix), before the plan or the apply; the run then goes ahead for every
other package and exits 1 with one closing line (see flowfleet/partial.py).
"""

from __future__ import annotations

import typer

from flowfleet import partial
from flowfleet.cli import fail
from flowfleet.engine import Target

PACKAGE = typer.Option(
    [],
    "--package",
    metavar="NAME",
    help="Only this team package (repeatable): its distribution, module or entry-point "
    "name. Other packages' deployments are never touched, pruning included.",
)


def say_broken(target: Target) -> Target:
    """Print each broken package's problems on stderr, first, as `error:` lines."""
    fail(*(problem for found in target.broken.values() for problem in found))
    return target


def exit_if_broken(target: Target, command: str) -> None:
    """Exit 1 with one closing line when a package was left alone."""
    if target.broken:
        raise fail(partial.summary(target.broken, command))
