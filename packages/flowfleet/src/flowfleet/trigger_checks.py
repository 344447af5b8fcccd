"""Fleet-wide trigger checks: every `after()` names a deployment of the same environment,
and no chain of triggers runs in a circle. Pure, on resolved deployments.

A reference is checked against the environment's resolved fleet, not the code: an
upstream limited to `environments=["prod"]` is not there in dev, so a dev trigger on
it would never fire. A cycle (a after b, b after a) would run forever once started.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flowfleet.desired import DesiredDeployment
from flowfleet.problems import Problem
from flowfleet.triggers import TriggerSpec


@dataclass(frozen=True)
class Edge:
    """`downstream` runs after `upstream` (server full names)."""

    upstream: str
    downstream: str
    spec: TriggerSpec


def edges(deployments: Iterable[DesiredDeployment]) -> list[Edge]:
    return [
        Edge(t.upstream, d.full_name, t)
        for d in deployments
        for t in d.triggers
        if t.upstream is not None
    ]


def check_references(deployments: list[DesiredDeployment], environment: str) -> list[Problem]:
    by_name = {d.full_name: d for d in deployments}
    problems: list[Problem] = []
    known: list[Edge] = []
    for edge in edges(deployments):
        if edge.upstream in by_name:
            known.append(edge)
            continue
        down = by_name[edge.downstream]
        named = "" if edge.upstream == edge.spec.declared else f" (named {edge.upstream} here)"
        problems.append(
            Problem(
                f"runs after {edge.spec.declared}, which is not deployed in environment "
                f"'{environment}'{named}",
                down.package,
                down.full_name,
                "triggers",
                f"deploy {edge.spec.declared} in '{environment}' too, or drop the trigger "
                f"there: overrides={{'{environment}': {{'triggers': []}}}}",
                down.source or None,
            )
        )
    for cycle in find_cycles(known):
        down = by_name[cycle[-1]]
        problems.append(
            Problem(
                f"trigger cycle: {' → '.join(cycle)} (runs after {cycle[-2]}, which runs "
                f"after it in turn)",
                down.package,
                down.full_name,
                "triggers",
                "remove one trigger of the cycle",
                down.source or None,
            )
        )
    return problems


def find_cycles(known: list[Edge]) -> list[list[str]]:
    """Each cycle once, as names from upstream to downstream, the first name repeated last."""
    after: dict[str, list[str]] = {}
    for edge in known:
        after.setdefault(edge.upstream, []).append(edge.downstream)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = path[path.index(node) :] + [node]
            if frozenset(cycle) not in seen:
                seen.add(frozenset(cycle))
                cycles.append(cycle)
            return
        if node in done:
            return
        for nxt in sorted(after.get(node, [])):
            visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(after):
        visit(start, [])
    return cycles
