"""One deploy at a time per project and environment, kept by the Prefect server itself.

Two deploys of one project to one environment at once both plan against the same
server state and both write it: each reports every row as created, and the slower
one may undo the faster one's newer code. A lock file or a lock in this process
cannot see another CI runner; the server can. The lease is a Prefect global
concurrency limit with one slot, named `flowfleet-deploy:<project>:<env>`, taken with
`increment-with-lease`:

- a deploy that holds it renews it every third of its TTL;
- a deploy that ends (or is interrupted) releases it with `decrement-with-lease`;
- a deploy that dies (SIGKILL, a lost runner) stops renewing, and the server's
  repossessor service frees the slot once the TTL has passed (TTL, plus up to its
  15 s loop). Prefect refuses a lease under 60 s, so that is the default TTL.

A second deploy waits up to `wait` seconds for the slot, then stops with one line.
A server without the API (404) or one that refuses it (403, a key without the
right) gets a warning and the deploy goes ahead unguarded: no worse than before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from flowfleet import lease_holder
from flowfleet.errors import UNAVAILABLE_STATUSES, describe_error
from flowfleet.problems import FlowfleetError
from flowfleet.retry import retry_after

WAIT_VAR = "FLOWFLEET_LOCK_WAIT"
TTL_VAR = "FLOWFLEET_LOCK_TTL"
MIN_TTL = 60.0  # Prefect's floor for `lease_duration`
LIMITS = lease_holder.LIMITS


@dataclass(frozen=True)
class LeaseSettings:
    """`wait`: seconds a deploy waits for another one (0: stop at once).
    `ttl`: seconds a dead deploy keeps the lease; a live one renews it."""

    wait: float = 600.0
    ttl: float = MIN_TTL

    @classmethod
    def from_env(cls, wait: float | None = None) -> LeaseSettings:
        def number(var: str, default: float) -> float:
            raw = os.environ.get(var, "").strip()
            try:
                return float(raw) if raw else default
            except ValueError:
                raise FlowfleetError(f"{var}={raw!r} is not a number of seconds") from None

        if wait is None:
            wait = number(WAIT_VAR, cls.wait)
        return cls(wait=max(0.0, wait), ttl=max(MIN_TTL, number(TTL_VAR, cls.ttl)))


def limit_name(project: str, environment: str) -> str:
    """The concurrency limit's name; Prefect's names refuse `/ % & > <`."""
    return re.sub(r"[/%&<>]", "_", f"flowfleet-deploy:{project}:{environment}")


@dataclass
class Lease:
    name: str
    lease_id: str | None = None  # None: the server keeps no lease; the deploy is unguarded
    waited: float = 0.0  # seconds spent waiting for another deploy
    lost: str | None = None  # set when a renewal failed: another deploy may have started
    # The release mark found on taking it (lease_holder): the one read before the server
    # was read means no deploy took the lease in between, so that read still holds.
    found_mark: str | None = None

    def unchanged_since(self, mark: str | None) -> bool:
        return mark is not None and mark == self.found_mark


@contextlib.asynccontextmanager
async def deploy_lease(
    client: Any, api_url: str, name: str, settings: LeaseSettings, say: Callable[[str], None]
) -> AsyncIterator[Lease]:
    """Hold lease `name` (`limit_name`) for the body; release it however the body ends."""
    lease = await acquire(client, api_url, name, settings, say)
    if lease.lease_id is None:
        yield lease
        return
    renewer = asyncio.create_task(_renew(client, api_url, lease, settings, say))
    try:
        yield lease
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        await _release(client, lease)


async def acquire(
    client: Any, api_url: str, name: str, settings: LeaseSettings, say: Callable[[str], None]
) -> Lease:
    """Take the one slot, waiting for it while another deploy holds it."""
    started = time.monotonic()
    body = {"names": [name], "slots": 1, "mode": "concurrency", "lease_duration": settings.ttl}
    created = announced = False
    prober = lease_holder.Prober()
    while True:
        waited = time.monotonic() - started
        response = await _call(client, api_url, f"{LIMITS}/increment-with-lease", body)
        if response.status_code in (403, 404):  # 401 is a bad credential: an error below
            say(unguarded(response, api_url))
            return Lease(name)
        busy = response.status_code in UNAVAILABLE_STATUSES and announced
        if response.status_code == 423 or busy:  # held; or busy while we wait anyway
            if waited >= settings.wait:
                raise FlowfleetError(held_line(name, settings, waited))
            if not announced:
                say(f"waiting up to {settings.wait:.0f} s for another deploy to finish ({name})")
                announced = True
            if await _reclaim(client, name, prober, say):
                continue
            pause = retry_after(response) or 2.0
            await asyncio.sleep(min(max(pause, 0.5), 5.0, settings.wait - waited))
            continue
        _raise_for(response, api_url, "taking the deploy lease")
        granted = response.json()
        if granted.get("limits"):
            found = await lease_holder.release_mark(client, name)  # before ours replaces it
            lease = Lease(name, str(granted["lease_id"]), waited=waited, found_mark=found)
            await lease_holder.publish(client, name, str(lease.lease_id), settings.ttl)
            return lease
        # No such limit yet: the server granted a lease on nothing. Drop it, create it, retry.
        await _call(client, api_url, f"{LIMITS}/decrement-with-lease", _id(granted))
        if created:
            raise FlowfleetError(f"the deploy lease {name} could not be created on {api_url}")
        await _create_limit(client, api_url, name)
        created = True


async def _reclaim(
    client: Any, name: str, prober: lease_holder.Prober, say: Callable[[str], None]
) -> bool:
    """True when the slot was held by a lease the server lost (it restarted): freed."""
    try:
        lost = await prober.lost_lease(client, name)
        if lost is None:
            return False
        await lease_holder.free_slot(client, name)
    except Exception:  # noqa: BLE001 - not provable now: keep waiting
        return False
    say(f"the server no longer has lease {lost} that held {name} (it restarted?): freed it")
    return True


async def _call(client: Any, api_url: str, path: str, body: dict[str, Any]) -> Any:
    try:
        return await client.request("POST", path, json=body)
    except Exception as exc:
        raise FlowfleetError(f"taking the deploy lease: {describe_error(exc, api_url)}") from None


def held_line(name: str, settings: LeaseSettings, waited: float) -> str:
    return (
        f"another deploy of this project to this environment is running (server lease {name}); "
        f"waited {waited:.0f} s: run again when it ends (a dead one's lease expires within "
        f"{settings.ttl:.0f} s), or set {WAIT_VAR} to wait longer"
    )


def unguarded(response: Any, api_url: str) -> str:
    return (
        f"warning: {api_url} keeps no deploy lease (increment-with-lease answered "
        f"{response.status_code}): concurrent deploys of this environment are not kept apart"
    )


async def _create_limit(client: Any, api_url: str, name: str) -> None:
    response = await client.request("POST", f"{LIMITS}/", json={"name": name, "limit": 1})
    if response.status_code != 409:  # created meanwhile by another deploy: as good
        _raise_for(response, api_url, "creating the deploy lease's concurrency limit")


async def _renew(
    client: Any, api_url: str, lease: Lease, settings: LeaseSettings, say: Callable[[str], None]
) -> None:
    """Every third of the TTL, so two failed renewals in a row still leave time."""
    path = f"{LIMITS}/leases/{lease.lease_id}/renew"
    while True:
        await asyncio.sleep(settings.ttl / 3)
        try:
            response = await client.request("POST", path, json={"lease_duration": settings.ttl})
            if response.status_code == 410:
                lease.lost = f"the deploy lease {lease.name} expired before it was renewed"
                say(f"warning: {lease.lost}: another deploy may start meanwhile")
                return
        except Exception as exc:  # noqa: BLE001 - the next renewal tries again
            say(f"warning: renewing the deploy lease failed: {describe_error(exc, api_url)}")


async def _release(client: Any, lease: Lease) -> None:
    """Best effort: a release that fails leaves a lease that expires within its TTL."""
    await lease_holder.withdraw(client, lease.name)  # first: a waiter never probes a stale id
    with contextlib.suppress(Exception):
        await client.request("POST", f"{LIMITS}/decrement-with-lease", json=_id(lease))


def _id(lease: Any) -> dict[str, str]:
    lease_id = lease["lease_id"] if isinstance(lease, dict) else lease.lease_id
    return {"lease_id": str(lease_id)}


def _raise_for(response: Any, api_url: str, doing: str) -> None:
    try:
        response.raise_for_status()
    except Exception as exc:
        raise FlowfleetError(f"{doing}: {describe_error(exc, api_url)}") from None


def guard(
    client: Any,
    api_url: str,
    name: str,
    settings: LeaseSettings | None,
    say: Callable[[str], None],
):
    """The deploy lease (yields the `Lease`), or nothing (yields None) without settings."""
    if settings is None:
        return contextlib.nullcontext()
    return deploy_lease(client, api_url, name, settings, say)
