"""Which part of the server a plan reads: only the project's flows and pools, unless it prunes.

Prefect 3.9.1's deployment filter has no label filter (`DeploymentFilter`: id, name,
paused, tags, work queue, concurrency limit), so flowfleet's ownership labels cannot
narrow a read. The filter body does take `flows.name.any_` and `work_pools.name.any_`,
and a plan that does not prune looks up nothing else: each desired deployment by its
`flow/name`, its flow's id, and its pool's type. So such a plan reads the deployments
of the declared flows (whoever owns them, so a same-named foreign deployment is still
a conflict), those flows, and the desired pools. On a workspace shared with thousands
of other deployments, it costs what the project's own cost.

A prune must find a managed deployment whose flow was removed from the code, which a
name filter cannot see: pruning reads everything, as before (`ReadScope` None). So does
a plan on a server of up to `READ_ALL_MAX` deployments, so that it lists every owned
deployment no longer declared; above that, it adds the flows the last run declared.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowfleet import atomic_file

# Names per filter call: far below SQLite's 32,766 and asyncpg's 32,767 bind parameters.
CHUNK = 1000
# Up to this many deployments on the server, a plan reads them all: a full read then
# costs little (about 5 s at 2,000 here) and shows every undeclared deployment this
# project owns, a renamed flow's included. Above it, only the project's part is read.
READ_ALL_MAX_VAR = "FLOWFLEET_READ_ALL_MAX"
READ_ALL_MAX = 2000


async def crowded(client: Any) -> bool:
    """True when the server holds more deployments than a plan reads in full."""
    count = await client.request("POST", "/deployments/count", json={})  # as observed reads
    count.raise_for_status()
    return count.json() > int(os.environ.get(READ_ALL_MAX_VAR, READ_ALL_MAX))


@dataclass(frozen=True)
class ReadScope:
    flows: frozenset[str]
    pools: frozenset[str]

    @classmethod
    def of(cls, desired: Iterable[Any]) -> ReadScope:
        """What a plan of `desired` (DesiredDeployment-like) looks up on the server."""
        desired = list(desired)
        return cls(frozenset(d.flow for d in desired), frozenset(d.work_pool for d in desired))

    def union(self, other: ReadScope) -> ReadScope:
        return ReadScope(self.flows | other.flows, self.pools | other.pools)

    def covers(self, other: ReadScope) -> bool:
        return other.flows <= self.flows and other.pools <= self.pools

    def filters(self, path: str) -> Iterator[dict[str, Any]]:
        """The filter bodies that read `path`'s rows in scope; none for an empty set."""
        if path == "/work_pools/filter":
            key, names = "work_pools", self.pools
        else:  # flows, and deployments by their flow's name
            key, names = "flows", self.flows
        ordered = sorted(names)
        for start in range(0, len(ordered), CHUNK):
            yield {key: {"name": {"any_": ordered[start : start + CHUNK]}}}


def everything(path: str) -> Iterator[dict[str, Any]]:
    """One unfiltered read of `path` (pruning, branch cleanup)."""
    yield {}


def scope_file(cache_folder: Path) -> Path:
    """`<cache>/read_scope/<env>.json`, beside the resolve cache's `<cache>/resolve/<env>/`."""
    return cache_folder.parent.parent / "read_scope" / f"{cache_folder.name}.json"


def remember(path: Path, desired: Iterable[Any]) -> None:
    """Keep the scope of this resolution, so the next command can read ahead by it."""
    scope = ReadScope.of(desired)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_file.write_text(
        path, json.dumps({"flows": sorted(scope.flows), "pools": sorted(scope.pools)})
    )


def recall(path: Path) -> ReadScope | None:
    """The last resolution's scope: a guess, checked by `covers` before it is used."""
    try:
        data = json.loads(path.read_text())
        return ReadScope(frozenset(data["flows"]), frozenset(data["pools"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
