"""How many writes a deploy keeps in flight; `--concurrency auto` times the server first.

Concurrent writers pay only while the client waits on the network, not on the server.
Measured with bench/writers.py (bench/findings.md): against a server on the same
machine, more writers were slower on SQLite (1.89x the time per deployment with 2,
3.78x with 4: writers queue on its lock) and within noise on PostgreSQL 15 (0.88x,
0.83x), because the server's own CPU is the limit. With a round trip added between
client and server, the writes overlap the waiting instead. So `auto` asks the server a
trivial question a few times and keeps one writer for a server that answers within
NEAR_MS, and REMOTE_WRITERS for one further away (Prefect Cloud, a server across a
network).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel

AUTO = "auto"
NEAR_MS = 20.0
REMOTE_WRITERS = 4
PROBES = 3
PROBE_BUDGET = 3.0  # seconds for all probes: Prefect Cloud answers in well under one
MAX_WRITERS = 32


class Writers(BaseModel):
    """The writes in flight for one deploy, and why: shown in the deploy report."""

    count: int
    chosen: str  # "set" (a number was given) or "auto"
    round_trip_ms: float | None = None  # the fastest probe, when `auto` timed the server

    def describe(self) -> str:
        if self.chosen != AUTO:
            return f"{self.count} at once, as set"
        if self.round_trip_ms is None:
            return f"{self.count} at once (auto; the server was not timed)"
        where = "near" if self.round_trip_ms < NEAR_MS else "remote"
        return f"{self.count} at once (auto: {where} server, {self.round_trip_ms:g} ms round trip)"


def parse(value: str) -> int | None:
    """`--concurrency`: a number from 1 to MAX_WRITERS, or `auto` (None)."""
    text = value.strip().lower()
    if text == AUTO:
        return None
    if text.isdigit() and 1 <= int(text) <= MAX_WRITERS:
        return int(text)
    raise ValueError(f"takes a number from 1 to {MAX_WRITERS} or '{AUTO}', not '{value}'")


def choose(round_trips_ms: list[float]) -> Writers:
    """`auto`'s choice from the measured round trips (pure). The fastest answer is the
    network's floor; a slower one may only be a busy moment of the machine."""
    fastest = min(round_trips_ms)
    count = 1 if fastest < NEAR_MS else REMOTE_WRITERS
    return Writers(count=count, chosen=AUTO, round_trip_ms=round(fastest, 1))


async def decide(client: Any, setting: int | None, *, writes: bool = True) -> Writers:
    """A set number as it is. `auto` times PROBES small reads through `client` first,
    unless there is nothing to write. A server that fails or stalls them within
    PROBE_BUDGET seconds gets one writer, and the writes then report what is wrong."""
    if setting is not None:
        return Writers(count=setting, chosen="set")
    if not writes:
        return Writers(count=1, chosen=AUTO)
    times: list[float] = []

    async def probe() -> None:
        for _ in range(PROBES):
            started = time.perf_counter()
            await client.request("GET", "/health")  # any answer is a round trip
            times.append((time.perf_counter() - started) * 1000)

    try:
        await asyncio.wait_for(probe(), PROBE_BUDGET)
    except Exception:  # noqa: BLE001 - the first write meets the same error and names it
        return Writers(count=1, chosen=AUTO)
    return choose(times)
