"""Resolve many uncached packages in worker processes, so a cold run takes the warm path.

A cold run's time is importing the flows, and that is CPU in one interpreter: at
10,000 flows, 87 % of it was Prefect's `@flow` decorator building pydantic models
(bench/findings.md). Here each worker imports and resolves a share of the packages the
cache misses, and stores them in the cache; then the command looks them up again.

Workers only write cache entries, and the command reuses an entry only through the
cache's own key and file checks, as on any warm run. So a worker cannot change what a
command resolves to: a share that fails, crashes, holds a secret or is stale is
imported by the command itself, which reports its problems as before. The command
never imports the flows the workers cached, so its own memory is the warm path's.

A worker resolves its share BATCH packages at a time (FLOWFLEET_RESOLVE_BATCH) and lets
go of each batch's flows before the next. A worker holding its whole share (250
packages, 5,000 flows) peaked at 209 MB; batch by batch it peaks at 133 MB, and at
123 MB when the stock templates are on disk (template_store.py): most of it is there
before any flow (Prefect, the plugins, the workspace's image tags; bench/findings.md).
BATCH is 4, not 16: at 10,000 a cold `plan` that reads ahead held 297 to 298 MB for the
whole tree (command and two workers) against 304 to 305 MB, alternating, no slower.
Only a worker may let go: it exits after, while a command may import a package again
(pruning re-resolves from code).

FLOWFLEET_RESOLVE_WORKERS sets how many run at once: `0` turns them off, a number forces
that many. By default (`auto`) there is one per CPU this process may use, up to
MAX_AUTO, each with at least MIN_SHARE packages: a worker pays its own interpreter start
and plugin load first. A single worker still runs (one CPU, or few misses): then the
flows live in a process that lets them go, not in the command. On one CPU at 10,000,
a cold `validate` took the same time either way (47.6 s alone, 48.2 s with one
worker), and its memory fell from 289 MB to 192 MB for both processes together.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowfleet.loader import Fleet

WORKERS_VARIABLE = "FLOWFLEET_RESOLVE_WORKERS"
BATCH_VARIABLE = "FLOWFLEET_RESOLVE_BATCH"
MAX_AUTO = 4  # each worker holds an interpreter, Prefect and its share of flows
MIN_SHARE = 16  # packages per worker below which one process is as fast
BATCH = 4  # packages a worker holds at once


def worker_count(missed: int, setting: str | None = None, cpus: int | None = None) -> int:
    """How many workers to start for `missed` packages; 0 means none."""
    setting = (os.environ.get(WORKERS_VARIABLE, "") if setting is None else setting).strip()
    if setting.isdigit():
        return min(int(setting), missed)
    cpus = cpus if cpus is not None else len(os.sched_getaffinity(0))
    return min(cpus, MAX_AUTO, missed // MIN_SHARE)


def shares(packages: Sequence[str], workers: int) -> list[list[str]]:
    """Round-robin over the sorted names: neighbours (one team's packages) spread out."""
    ordered = sorted(packages)
    return [ordered[i::workers] for i in range(workers) if ordered[i::workers]]


def batch_size(setting: str | None = None) -> int:
    """Packages a worker holds at once: FLOWFLEET_RESOLVE_BATCH, else BATCH."""
    setting = (os.environ.get(BATCH_VARIABLE, "") if setting is None else setting).strip()
    return int(setting) if setting.isdigit() and int(setting) > 0 else BATCH


def batches(packages: Sequence[str], size: int) -> list[list[str]]:
    """A worker's share in order, `size` packages at a time."""
    return [list(packages[i : i + size]) for i in range(0, len(packages), size)]


def fill(root: Path, environments: list[str], branch: str | None, missed: list[str]) -> int:
    """Resolve `missed` into the cache in workers; the number of workers that ran."""
    workers = worker_count(len(missed))
    if workers < 1:
        return 0
    base = [sys.executable, "-m", "flowfleet.prewarm", "--root", str(root)]
    base += [f"--env={name}" for name in environments]
    base += [f"--branch={branch}"] if branch is not None else []
    env = {**os.environ, WORKERS_VARIABLE: "0"}  # a worker never starts workers
    running = [
        subprocess.Popen(
            [*base, *share],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # its problems are found again by the command
        )
        for share in shares(missed, workers)
    ]
    try:
        for process in running:
            process.wait()
    finally:  # interrupted: the workers go with the command
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    return len(running)


def main(argv: list[str] | None = None) -> int:
    """A worker: resolve the named packages for each environment, storing them in the cache."""
    parser = argparse.ArgumentParser(prog="python -m flowfleet.prewarm")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--env", action="append", required=True)
    parser.add_argument("--branch")
    parser.add_argument("packages", nargs="+")
    args = parser.parse_args(argv)

    from flowfleet.problems import FlowfleetError
    from flowfleet.session import Session
    from flowfleet.workspace import Workspace

    session = Session(Workspace.find(args.root))
    try:
        environments = [session.environment(name) for name in args.env]
        tops = Counter(r.package for r in session.loaded_plugins.registries())
        shared = frozenset(top for top, count in tops.items() if count > 1)
        for batch in batches(args.packages, batch_size()):
            narrowed = session.narrowed(batch)
            narrowed.resolve_each(environments, args.branch, cached=True, collect=True)
            release(narrowed.fleet, keep=shared)
    except FlowfleetError:
        return 1
    return 0


def release(fleet: Fleet, keep: frozenset[str] = frozenset()) -> None:
    """Let go of the flows a batch imported, once they are resolved and stored.

    Their registrations are emptied and the packages' own modules leave `sys.modules`;
    shared libraries stay loaded, and so does a top-level module in `keep` (one that
    several registries name, as a namespace package's may: another batch's flows are
    under it). Afterwards these registries cannot load again in this process, which
    is why only a worker, about to move on, calls this.
    """
    for registry in fleet.registries:
        registry.registrations.clear()
        top = registry.package
        if top in keep:
            continue
        for name in [m for m in sys.modules if m == top or m.startswith(f"{top}.")]:
            del sys.modules[name]
    fleet.registries.clear()
    gc.collect()  # a module's functions and its namespace hold each other in a cycle
    # What survives (Prefect, the plugins, shared libraries) stays for the worker's life:
    # frozen, the next batch's collection skips it (0.1 s a batch at 10,000, unfrozen).
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
