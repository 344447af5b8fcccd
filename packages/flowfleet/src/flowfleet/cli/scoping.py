"""`--package` and the partial load, as `plan`, `deploy` and `prune` print them.

A package that did not load is listed first, one `error:` line per problem (package,
flow, field, fix), before the plan or the apply; the run then goes ahead for every
other package and exits 1 with one closing line (see flowfleet/partial.py).
"""

from __future__ import annotations

import sys

import typer

from flowfleet import partial, secrets
from flowfleet.cli import fail
from flowfleet.engine import Target

PACKAGE = typer.Option(
    [],
    "--package",
    metavar="NAME",
    help="Only this team package (repeatable): its distribution, module or entry-point "
    "name. Other packages' deployments are never touched, pruning included.",
)


_shown: set[str] = set()  # packages whose problems this command printed already


def say_broken(target: Target) -> Target:
    """Print each broken package's problems on stderr, first, as `error:` lines."""
    fail(*(p for package, found in target.broken.items() if package not in _shown for p in found))
    _shown.update(target.broken)
    return target


def exit_if_broken(target: Target, command: str) -> None:
    """Exit 1 with one closing line when a package was left alone. A cached package that
    failed only when re-imported before a prune (partial.failed_afresh) is printed here."""
    if target.broken:
        say_broken(target)
        raise fail(partial.summary(target.broken, command))


def warn_broken(target: Target) -> None:
    """`pools`: go ahead for the packages that loaded, and say which did not (stderr)."""
    for package, found in target.broken.items():
        for problem in found:
            print(f"warning: {secrets.scrub(str(problem))}", file=sys.stderr)
        print(f"warning: {package} did not load; its pools were not checked", file=sys.stderr)
