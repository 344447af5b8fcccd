"""Who holds the deploy lease, and how a waiting deploy proves that holder's lease gone.

Prefect keeps leases in the server's memory by default
(`PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE`), but the slot a lease took in its
database. A server restarted while a deploy held the lease forgets the lease and
keeps the slot taken: no TTL will ever free it, and every later deploy would wait.

So the holder publishes its lease id and TTL in a Prefect variable (one per limit)
and withdraws it before it releases. A waiter that finds the slot taken renews
the published lease once (with the holder's own TTL, so a live holder loses
nothing): `410 Gone` proves nobody holds it. After a short pause to let a deploy
that just took the slot publish its own id, the waiter frees the slot and takes it.
A lease id is probed again only after its TTL has passed, so a waiter never keeps a
dead deploy's lease alive for long; the server's repossessor frees such a lease.

On release the holder replaces its lease id with a release mark, a new random token.
A deploy reads the mark before it reads the server (`release_mark`), and again once
it holds the lease: the same mark means no flowfleet deploy took the lease in between,
so the state it read is still the one to plan against, and it need not read again.
Any other answer (a lease id, no variable, an older flowfleet that deletes it) reads again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from typing import Any
from urllib.parse import quote

LIMITS = "/v2/concurrency_limits"
CONFIRM_PAUSE = 2.0  # seconds for a holder that just took the slot to publish itself
REPOSSESSOR_GRACE = 20.0  # the repossessor's 15 s loop, and a little


def variable_name(limit: str) -> str:
    """Prefect variable names take letters, digits, dashes and underscores only."""
    return f"flowfleet-deploy-lease-{hashlib.sha256(limit.encode()).hexdigest()[:16]}"


async def publish(client: Any, limit: str, lease_id: str, ttl: float) -> None:
    """Best effort: without it, a lost lease is only found by waiting. When the id cannot
    be published the variable is deleted if it can be, so a waiting deploy never takes
    an older release mark as proof that nobody wrote meanwhile."""
    if not await _put(client, limit, {"limit": limit, "lease_id": lease_id, "ttl": ttl}):
        with contextlib.suppress(Exception):
            await client.request("DELETE", f"/variables/name/{variable_name(limit)}")


async def withdraw(client: Any, limit: str) -> None:
    """The lease id replaced by a new release mark (best effort)."""
    await _put(client, limit, {"limit": limit, "released": uuid.uuid4().hex})


async def _put(client: Any, limit: str, value: dict[str, Any]) -> bool:
    name = variable_name(limit)
    try:
        response = await client.request("PATCH", f"/variables/name/{name}", json={"value": value})
        if response.status_code == 404:
            response = await client.request(
                "POST", "/variables/", json={"name": name, "value": value}
            )
        return response.status_code < 300
    except Exception:  # noqa: BLE001 - best effort, as the callers say
        return False


async def _value(client: Any, limit: str) -> Any:
    response = await client.request("GET", f"/variables/name/{variable_name(limit)}")
    return response.json().get("value") if response.status_code == 200 else None


async def published(client: Any, limit: str) -> dict[str, Any] | None:
    value = await _value(client, limit)
    return value if isinstance(value, dict) and value.get("lease_id") else None


async def release_mark(client: Any, limit: str) -> str | None:
    """The last holder's release mark; None while a lease id is published, with no
    variable, or when it cannot be read (then the caller reads the server again)."""
    try:
        value = await _value(client, limit)
    except Exception:  # noqa: BLE001 - unknown: the safe answer
        return None
    if not isinstance(value, dict) or value.get("lease_id"):
        return None
    mark = value.get("released")
    return mark if isinstance(mark, str) and mark else None


class Prober:
    """A waiter's checks: each published lease probed at most once per its TTL."""

    def __init__(self) -> None:
        self.probed: dict[str, float] = {}

    async def lost_lease(self, client: Any, limit: str) -> str | None:
        """The published lease's id when the server no longer has it, else None."""
        holder = await published(client, limit)
        if holder is None:
            return None
        lease_id, ttl = str(holder["lease_id"]), float(holder.get("ttl") or 60.0)
        last = self.probed.get(lease_id)
        if last is not None and time.monotonic() - last < ttl + REPOSSESSOR_GRACE:
            return None
        self.probed[lease_id] = time.monotonic()
        renewed = await client.request(
            "POST", f"{LIMITS}/leases/{lease_id}/renew", json={"lease_duration": ttl}
        )
        if renewed.status_code != 410:
            return None
        await asyncio.sleep(CONFIRM_PAUSE)
        again = await published(client, limit)
        return lease_id if again is not None and str(again["lease_id"]) == lease_id else None


async def free_slot(client: Any, limit: str) -> None:
    """Give back the slot a lost lease left taken."""
    path = f"{LIMITS}/{quote(limit, safe='')}"
    response = await client.request("PATCH", path, json={"active_slots": 0})
    response.raise_for_status()
