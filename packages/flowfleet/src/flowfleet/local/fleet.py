"""Pools and deployments for one environment, as `flowfleet pools` and `flowfleet deploy` do."""

from __future__ import annotations

import asyncio

from flowfleet import engine
from flowfleet.engine import Target
from flowfleet.local.errors import StepFailed


def create_pools(target: Target) -> None:
    outcomes = asyncio.run(engine.pools(target))
    for o in outcomes:
        print(f"  {o.status:9} {o.full_name}: {o.details}")
    failed = [f"{o.full_name}: {o.details}" for o in outcomes if o.status == "failed"]
    if failed:
        raise StepFailed("; ".join(failed))


def deploy(target: Target) -> None:
    planned, report = asyncio.run(engine.deploy(target))
    if report is None:
        raise StepFailed("; ".join(str(b) for b in planned.blockers))
    for outcome in report.outcomes:
        if outcome.status != "unchanged":
            print(f"  {outcome.status:9} {outcome.full_name}")
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts().items()))
    print(f"  {len(report.outcomes)} deployments in '{target.environment.name}': {counts}")
    if not report.ok:
        raise StepFailed("; ".join(f"{o.full_name}: {o.details}" for o in report.failed))
