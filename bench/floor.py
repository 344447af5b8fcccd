"""The raw floor: bare sequential `POST /deployments/` calls for the whole fleet.

Run with the synthetic workspace's Python, from its root, against an empty server
that has the work pools. Untimed: resolving the fleet with flowfleet (to get the
very bodies flowfleet would send) and creating the flows (their time is reported
apart, as `flows_wall_s`, because every tool must create them too). Timed: only the loop of
`POST /deployments/` calls over one keep-alive httpx connection (a 503 from a
locked SQLite database is retried after 0.5 s, as real clients do, and counted).
Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import time

import httpx

from flowfleet.apply import deployment_body
from flowfleet.engine import Target


def main(env: str, api_url: str) -> None:
    target = Target.load(env)
    desired = target.desired
    with httpx.Client(base_url=api_url.rstrip("/"), timeout=300) as client:
        flow_ids = {}
        flows_started = time.perf_counter()
        for name in sorted({d.flow for d in desired}):
            response = client.post("/flows/", json={"name": name})
            response.raise_for_status()
            flow_ids[name] = response.json()["id"]
        flows_elapsed = time.perf_counter() - flows_started
        bodies = [deployment_body(d, flow_ids[d.flow], d.paused) for d in desired]
        retries = 0
        started = time.perf_counter()
        for body in bodies:
            # SQLite under load answers 503 (database locked); every real client retries.
            for attempt in range(10):
                response = client.post("/deployments/", json=body)
                if response.status_code not in (429, 503) or attempt == 9:
                    break
                retries += 1
                time.sleep(0.5)
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "deployments": len(bodies),
                "flows": len(flow_ids),
                "wall_s": elapsed,
                "flows_wall_s": flows_elapsed,  # not part of the floor; shown beside it
                "retries_503": retries,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
