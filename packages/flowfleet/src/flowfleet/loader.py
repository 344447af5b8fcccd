"""Load the fleet: every registry the plugins contribute, with its modules imported."""

from __future__ import annotations

from dataclasses import dataclass, field

from flowfleet.config_errors import config_problems
from flowfleet.errors import describe_error
from flowfleet.plugin_manager import Plugins
from flowfleet.plugins import load_plugins
from flowfleet.problems import Problem
from flowfleet.registry import Registration, Registry


@dataclass
class Fleet:
    """Every registration of every package, and what failed to load.

    `failed_packages` is what makes pruning safe: a package that did not load
    cleanly may look empty, and its deployments must not be mistaken for removed.
    """

    plugins: Plugins
    registries: list[Registry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    failed_packages: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        """True when every entry point and every module loaded."""
        return not self.problems

    @property
    def loaded_packages(self) -> set[str]:
        return {package_of(r) for r in self.registries}

    def registrations(self) -> list[tuple[str, Registration]]:
        return [(package_of(r), reg) for r in self.registries for reg in r.registrations]


def package_of(registry: Registry) -> str:
    return (registry.distribution or registry.package).lower().replace("_", "-")


def load_fleet(plugins: Plugins | None = None, skip: frozenset[str] = frozenset()) -> Fleet:
    """Load every registry's modules, except the packages in `skip` (resolved from cache)."""
    plugins = plugins or load_plugins()
    registries = plugins.registries()  # first: a plugin whose hook raises adds a problem
    for problem in plugins.pending():  # a misspelled hookimpl: the plugin is not what it seems
        if problem not in plugins.problems:
            plugins.problems.append(problem)
    fleet = Fleet(plugins, problems=list(plugins.problems))
    if plugins.problems:
        fleet.failed_packages.add("*")  # an entry point we could not read may be any package
    for name, distribution in plugins.disabled.items():  # disabled is not removed: no prune
        fleet.failed_packages.add((distribution or name).lower().replace("_", "-"))
    # Sorted, so "first" and "second" in problems do not depend on plugin order.
    for registry in sorted(registries, key=package_of):
        if package_of(registry) in skip:
            continue
        registry.load()
        fleet.registries.append(registry)
        for failure in registry.import_failures:
            fleet.failed_packages.add(package_of(registry))
            fleet.problems.extend(
                config_problems(failure, package_of(registry))  # a misspelled keyword, say
                or [
                    Problem(
                        f"importing {failure.module} raised {describe_error(failure.error)}",
                        package=package_of(registry),
                        source=failure.source,
                        fix="fix the import error; "
                        "until then the server keeps this package as it is",
                    )
                ]
            )
    return fleet
