"""Everything a Prefect server holds that a deploy could touch, read raw over plain HTTP.

Tests compare a snapshot before and after a run to prove nothing changed, or that
exactly the expected set exists (no duplicates, none missing).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Snapshot:
    flows: dict[str, str]  # flow name -> id
    flow_names: list[str]  # every flow name, duplicates kept
    deployments: dict[str, str]  # "flow/name" -> its JSON, but for the READINESS fields
    full_names: list[str]  # every deployment's full name, duplicates kept
    pools: dict[str, str]  # pool name -> its JSON
    # name (pools as "pool:<name>") -> (status, last_polled, updated), kept out of the JSON
    stamps: dict[str, tuple[Any, ...]]

    def mine(self, uid: str) -> set[str]:
        return {name for name in self.deployments if uid in name.split("/")[0]}

    def deployment(self, full_name: str) -> dict[str, Any]:
        return json.loads(self.deployments[full_name])


class ServerClient(httpx.Client):
    """Plain HTTP to the test server, retrying a 503 as Prefect's own client does: a
    shared SQLite server answers 503 while its database is busy (seen once in a full run,
    on a hand-made deployment)."""

    def __init__(self, api_url: str, **options: Any):
        super().__init__(base_url=api_url, timeout=30, **options)

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        for delay in (0.5, 1, 2, 4):
            response = super().send(request, **kwargs)
            if response.status_code != 503:
                return response
            response.close()
            time.sleep(delay)
        return super().send(request, **kwargs)


def _all(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    # Never by name alone: PostgreSQL pages deployments that share a name in any order.
    order = {"sort": "CREATED_DESC"} if path == "/deployments/filter" else {}
    rows: list[dict[str, Any]] = []
    while True:
        response = client.post(path, json={**order, "limit": 200, "offset": len(rows)})
        response.raise_for_status()
        page = response.json()
        rows.extend(page)
        if len(page) < 200:
            return rows


def snapshot(api_url: str) -> Snapshot:
    with ServerClient(api_url) as client:
        flows = _all(client, "/flows/filter")
        names = {row["id"]: row["name"] for row in flows}
        deployments = _all(client, "/deployments/filter")
        pools = _all(client, "/work_pools/filter")
    full = [f"{names.get(d['flow_id'], '?')}/{d['name']}" for d in deployments]
    return Snapshot(
        flows={row["name"]: row["id"] for row in flows},
        flow_names=[row["name"] for row in flows],
        deployments={n: _compared(d) for n, d in zip(full, deployments, strict=True)},
        full_names=full,
        pools={p["name"]: _compared(p) for p in pools},
        stamps={n: _stamp(d) for n, d in zip(full, deployments, strict=True)}
        | {f"pool:{p['name']}": _stamp(p) for p in pools},
    )


# The server changes these on its own: a worker's poll sets `last_polled` and `status`,
# and Prefect's foreman service marks deployments and pools NOT_READY a minute after the
# last poll, which moves `updated` too. A test that ran a worker earlier on the same
# server so made a later "nothing changed" test fail (seen once, under load 5).
# `touched_by_a_client` still catches an `updated` that moved without them.
READINESS = ("status", "last_polled", "updated")


def _compared(row: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in row.items() if k not in READINESS}, sort_keys=True)


def _stamp(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(k) for k in READINESS)


def touched_by_a_client(before: Snapshot, after: Snapshot) -> list[str]:
    """Rows whose `updated` moved while their readiness did not: a write, not the foreman."""
    return [
        name
        for name, stamp in after.stamps.items()
        if name in before.stamps
        and stamp[2] != before.stamps[name][2]
        and stamp[:2] == before.stamps[name][:2]
    ]


def create_pool(api_url: str, name: str, kind: str = "process") -> None:
    with ServerClient(api_url) as client:
        response = client.post("/work_pools/", json={"name": name, "type": kind})
        if response.status_code != 409:
            response.raise_for_status()


def hand_made(api_url: str, flow_name: str, name: str, **fields: Any) -> str:
    """A deployment made by hand (no flowfleet labels); returns its id."""
    with ServerClient(api_url) as client:
        flow = client.post("/flows/", json={"name": flow_name})
        flow.raise_for_status()
        body = {"name": name, "flow_id": flow.json()["id"], **fields}
        response = client.post("/deployments/", json=body)
        response.raise_for_status()
        return response.json()["id"]
