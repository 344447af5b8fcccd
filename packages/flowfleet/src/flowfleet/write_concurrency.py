"""How many writes a deploy keeps in flight; `--concurrency auto` measures the server.

Measured with bench/writers.py (bench/findings.md), time per new deployment against one
writer. Near the server, its own work is the limit, and the database decides: SQLite
queues writers on its lock (2 writers 1.67x, 4 writers 4.99x), PostgreSQL 15 overlaps
some (4 writers 0.75x). Across a network, writers overlap the waiting (50 ms away, 4
writers: SQLite 0.49x, PostgreSQL 0.27x; 8 made SQLite slower again). A client cannot
ask which database a server uses (`/admin/settings` masks the URL), so `auto` measures:

- three `GET /health` round trips; the fastest at NEAR_MS or more is a remote server
  (Prefect Cloud, a server across a network): WRITERS at once;
- a near server with at least TRIAL_MIN writes to do runs a trial with the real writes:
  TRIAL of them one at a time, the next TRIAL with WRITERS at once, and keeps WRITERS
  only if they took at most KEEP of one writer's time per write (less is noise);
- otherwise one writer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel

AUTO = "auto"
NEAR_MS = 20.0
WRITERS = 4
PROBES = 3
PROBE_BUDGET = 3.0  # seconds for all probes: Prefect Cloud answers in well under one
TRIAL = 16
TRIAL_MIN = 4 * TRIAL  # the trial's slower half costs little against the rest
KEEP = 0.9
MAX_WRITERS = 32


class Writers(BaseModel):
    """The writes in flight for one deploy, and why: shown in the deploy report."""

    count: int
    chosen: str  # "set" (a number was given) or "auto"
    round_trip_ms: float | None = None  # the fastest probe, when `auto` timed the server
    trial_ms: dict[int, float] | None = None  # ms per write at 1 and WRITERS, if tried

    @property
    def wants_trial(self) -> bool:
        return self.chosen == AUTO and self.trial_ms == {}

    def describe(self) -> str:
        if self.chosen != AUTO:
            return f"{self.count} at once, as set"
        if self.round_trip_ms is None:
            return f"{self.count} at once (auto; the server was not timed)"
        where = "near" if self.round_trip_ms < NEAR_MS else "remote"
        said = f"{self.count} at once (auto: {where} server, {self.round_trip_ms:g} ms round trip"
        if self.trial_ms:
            one, many = self.trial_ms[1], self.trial_ms[WRITERS]
            said += f"; a write took {one:g} ms alone, {many:g} ms with {WRITERS} at once"
        return said + ")"


def parse(value: str) -> int | None:
    """`--concurrency`: a number from 1 to MAX_WRITERS, or `auto` (None)."""
    text = value.strip().lower()
    if text == AUTO:
        return None
    if text.isdigit() and 1 <= int(text) <= MAX_WRITERS:
        return int(text)
    raise ValueError(f"takes a number from 1 to {MAX_WRITERS} or '{AUTO}', not '{value}'")


def choose(round_trips_ms: list[float], writes: int = 0) -> Writers:
    """`auto`'s choice from the round trips (pure). The fastest answer is the network's
    floor; a slower one may only be a busy moment of the machine. A near server with
    TRIAL_MIN writes or more starts at one writer, with its trial to run (`trial_ms` {})."""
    fastest = round(min(round_trips_ms), 1)
    if fastest >= NEAR_MS:
        return Writers(count=WRITERS, chosen=AUTO, round_trip_ms=fastest)
    trial = {} if writes >= TRIAL_MIN else None
    return Writers(count=1, chosen=AUTO, round_trip_ms=fastest, trial_ms=trial)


def after_trial(writers: Writers, alone_ms: float, together_ms: float) -> Writers:
    """The trial's verdict (pure): WRITERS only if clearly faster per write."""
    count = WRITERS if together_ms <= KEEP * alone_ms else 1
    trial = {1: round(alone_ms, 1), WRITERS: round(together_ms, 1)}
    return writers.model_copy(update={"count": count, "trial_ms": trial})


async def decide(client: Any, setting: int | None, *, writes: int = 1) -> Writers:
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
    return choose(times, writes)
