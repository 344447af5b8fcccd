"""Which managed deployments are no longer declared, and when pruning must not decide.

Ownership is per package: a deployment whose `flowfleet.package` did not load (an
import that raised, a bad deployment, a disabled plugin) is never a candidate, so a
broken package's deployments stay exactly as they are while the others' are pruned.
Only a failure no package owns (`*`: an entry point or plugin that could not be read,
which may be any package) refuses the prune as a whole.
`plan` without `--prune` lists the same candidates as kept ("not declared").
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from flowfleet.desired import DesiredDeployment
from flowfleet.observed import ObservedDeployment, ServerState

UNKNOWN_PACKAGE = "*"
KEPT = "not declared (kept; `--prune` deletes it)"


def refusal(failed: Collection[str]) -> str | None:
    """Why nothing may be pruned at all, or None: only an unattributed failure refuses."""
    if UNKNOWN_PACKAGE not in failed:
        return None
    return (
        "refusing to prune: an entry point or plugin did not load cleanly, so any "
        "package's deployments could look removed; fix the load errors first"
    )


def undeclared(
    desired: list[DesiredDeployment],
    state: ServerState,
    *,
    project: str,
    environment: str,
    failed: Collection[str] = (),
    scope: Callable[[ObservedDeployment], bool] | None = None,
) -> list[ObservedDeployment]:
    """This project's deployments in `environment` that no loaded package declares.

    `failed` packages' deployments are left out (their declarations are unknown), and
    `scope` narrows further (a branch's lane, `--package`).
    """
    if UNKNOWN_PACKAGE in failed:
        return []
    wanted = {d.full_name for d in desired}
    return [
        have
        for have in state.deployments.values()
        if have.full_name not in wanted
        and have.managed_by(project)
        and have.environment == environment
        and have.package not in failed
        and (scope is None or scope(have))
    ]
