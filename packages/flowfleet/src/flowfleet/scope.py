"""`--package NAME` (repeatable): which packages a command works on.

A package is named as `flowfleet.package` labels it (`sales-flows`, its distribution),
as its module (`sales_flows`) or as its entry point (`sales`). An unknown name is one
line with a did-you-mean and the known names, before anything is resolved or read.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from flowfleet.loader import package_of
from flowfleet.plugin_manager import Plugins
from flowfleet.problems import FlowfleetError
from flowfleet.resolve import Resolution


def aliases(plugins: Plugins) -> dict[str, str]:
    """Every accepted name of every team package -> its package label."""
    names: dict[str, str] = {}
    for registry in plugins.registries():
        package = package_of(registry)
        entry_point = plugins.manager.get_name(registry)
        for alias in (package, registry.package, entry_point):
            if alias:
                names.setdefault(alias.lower(), package)
    return names


def chosen(plugins: Plugins, requested: Iterable[str]) -> frozenset[str] | None:
    """The package labels `requested` names; None (every package) when none is given."""
    requested = [name.strip() for name in requested]
    if not requested:
        return None
    known = aliases(plugins)
    unknown = [name for name in requested if name.lower() not in known]
    if unknown:
        raise FlowfleetError(*(unknown_line(name, known) for name in unknown))
    return frozenset(known[name.lower()] for name in requested)


def unknown_line(name: str, known: dict[str, str]) -> str:
    packages = sorted(set(known.values()))
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    hint = f"did you mean '{known[close[0]]}'? " if close else ""
    listed = ", ".join(packages) or "none: no team package is installed"
    return f"unknown package '{name}' for --package: {hint}(known: {listed})"


def narrowed(
    resolution: Resolution, packages: frozenset[str] | None, plugins: Plugins
) -> Resolution:
    """`list` and `validate` with `--package`: those packages' deployments and problems,
    plus problems no team package owns (an environment file, a plugin): they concern all."""
    if packages is None:
        return resolution
    teams = set(aliases(plugins).values())
    return Resolution(
        resolution.environment,
        [d for d in resolution.deployments if d.package in packages],
        [p for p in resolution.problems if p.package in packages or p.package not in teams],
    )
