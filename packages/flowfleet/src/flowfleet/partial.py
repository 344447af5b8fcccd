"""A partial load: a package that did not load or resolve blocks only itself.

`plan`, `deploy` and `prune` sort the problems of a resolution in two kinds:
- a problem a package owns (one of its modules raised on import, one of its
  deployments is invalid, or it declares a name another package declares too):
  that package is *broken*. A problem in one deployment blocks its whole package,
  because a package ships as one unit (one image, one team's change) and pruning
  needs its complete set of declarations; half a package applied could leave a
  renamed flow both old and new, or neither. Its deployments leave the desired set
  and its name joins the failed packages, so the plan leaves every deployment the
  server holds for it exactly as it is: never updated, never pruned;
- a problem no package owns (an environment file, an entry point or plugin that
  could not be loaded, an infra-types hook): it may shape every deployment (a
  policy plugin, say), so it stops the run before anything is read or written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field

from flowfleet.desired import DesiredDeployment
from flowfleet.loader import Fleet
from flowfleet.problems import FlowfleetError, Problem
from flowfleet.resolve import Resolution


@dataclass
class PartialLoad:
    """What may be applied, and the packages left alone with their problems."""

    desired: list[DesiredDeployment]
    broken: dict[str, list[Problem]] = field(default_factory=dict)

    def scoped(self, packages: Collection[str] | None) -> PartialLoad:
        """Only `packages` (None: all); a broken package outside them is not this run's."""
        if packages is None:
            return self
        return PartialLoad(
            [d for d in self.desired if d.package in packages],
            {p: found for p, found in self.broken.items() if p in packages},
        )


def split(resolution: Resolution, fleet: Fleet) -> PartialLoad:
    """Sort `resolution`'s problems by package; raise on any problem no package owns."""
    known = fleet.loaded_packages | {d.package for d in resolution.deployments}
    unowned = set(fleet.plugins.problems) | set(fleet.plugins.infra_types.problems)
    if any(p in unowned or p.package not in known for p in resolution.problems):
        raise FlowfleetError(*resolution.problems)
    broken: dict[str, list[Problem]] = {}
    declared_by = {d.full_name: d.package for d in resolution.deployments}
    for problem in resolution.problems:
        assert problem.package is not None  # checked above: every problem has its package
        broken.setdefault(problem.package, []).append(problem)
        other = declared_by.get(problem.flow or "")
        if other and other != problem.package:  # a name two packages declare: both wait
            broken.setdefault(other, []).append(dataclasses.replace(problem, package=other))
    desired = [d for d in resolution.deployments if d.package not in broken]
    return PartialLoad(desired, dict(sorted(broken.items())))


def failed_afresh(
    desired: list[DesiredDeployment], broken: dict[str, list[Problem]], fleet: Fleet
) -> tuple[list[DesiredDeployment], dict[str, list[Problem]]]:
    """After `Session.refresh`: a cached package that now fails is left alone too."""
    broken = dict(broken)
    for package in {d.package for d in desired} & fleet.failed_packages:
        broken[package] = [p for p in fleet.problems if p.package == package] or [
            Problem("did not load when resolved afresh before pruning", package=package)
        ]
    return [d for d in desired if d.package not in broken], broken


def lines(broken: dict[str, list[Problem]]) -> dict[str, list[str]]:
    """The plan's `broken`: each package's problems as their one-line texts."""
    return {package: [str(p) for p in found] for package, found in broken.items()}


def summary(broken: Collection[str], command: str) -> str:
    """The last error line of a run that left broken packages alone."""
    names = ", ".join(sorted(broken))
    done = {"plan": "planned", "deploy": "deployed", "prune": "pruned"}.get(command, command)
    return (
        f"{len(broken)} package(s) did not load and were not {done}: {names}; their "
        "deployments on the server are left exactly as they are, every other package "
        "went ahead (fix the lines above, or leave them out with --package)"
    )
