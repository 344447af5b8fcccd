"""Do concurrent writers pay? New deployments written with 1, 2 and 4 requests in flight.

    uv run python bench/writers.py --db postgres --count 100 --reps 2
    uv run python bench/writers.py --latency-ms 50 --levels 1,2,4,8

One local Prefect server (services off) on SQLite or PostgreSQL 15. Each round
writes `--count` new deployments (`POST /deployments/`, cron schedule, parameters,
job variables, labels) through flowfleet's one HTTP client with 1, 2 or 4 writes in
flight, the orders rotating per repetition. It prints the median seconds per
deployment and each level's ratio to one writer: the evidence a `--concurrency`
default needs. With `--latency-ms`, the writes go through a loopback proxy that holds
each request that long first, as a server across a network (or Prefect Cloud) would.
Results go to bench/results/writers-<db>[-<latency>ms].json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from flowfleet.client import ApiClient
from flowfleet.devpostgres import Postgres
from flowfleet.devserver import start_server
from proxy import CountingProxy

RESULTS = Path(__file__).resolve().parent / "results"


async def write_round(api_url: str, flow_id: str, prefix: str, count: int, writers: int) -> float:
    async with ApiClient(api_url) as client:
        limit = asyncio.Semaphore(writers)

        async def one(i: int) -> None:
            body = {
                "name": f"{prefix}-{i:05}",
                "flow_id": flow_id,
                "schedules": [{"schedule": {"cron": f"{i % 60} 6 * * *", "timezone": "UTC"}}],
                "parameters": {"days": i % 7},
                "job_variables": {"image": f"registry/bench:{i}", "cpu": 256, "memory": 512},
                "labels": {"flowfleet.managed": "true", "flowfleet.project": "bench"},
            }
            async with limit:
                await client.send("POST", "/deployments/", json=body)

        await client.send("GET", "/health")  # connection up before the clock starts
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - started


async def create_flow(api_url: str) -> str:
    async with ApiClient(api_url) as client:
        return (await client.send("POST", "/flows/", json={"name": "writers-bench"})).json()["id"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to each request")
    parser.add_argument("--levels", default="1,2,4", help="writes in flight, compared")
    parser.add_argument("--out", type=Path, help="default: bench/results/writers-<db>[-<ms>].json")
    args = parser.parse_args(argv)
    levels = tuple(int(x) for x in args.levels.split(","))

    work = Path(tempfile.mkdtemp(prefix="ffwriters-"))
    work.chmod(0o755)  # the PostgreSQL user must traverse it
    postgres = Postgres(work / "pg") if args.db == "postgres" else None
    server = proxy = None
    per_deployment: dict[int, list[float]] = {level: [] for level in levels}
    try:
        if postgres:
            postgres.start()
        server = start_server(
            work / "prefect",
            database_url=postgres.url if postgres else None,
            services=False,
            timeout=300,
        )
        api_url = server.api_url
        if args.latency_ms:
            upstream = urlsplit(server.api_url)
            proxy = CountingProxy(
                upstream.hostname, upstream.port, delay=args.latency_ms / 1000
            ).start()
            api_url = proxy.api_url()
        flow_id = asyncio.run(create_flow(api_url))
        for rep in range(args.reps):
            turn = rep % len(levels)
            order = levels[turn:] + levels[:turn]
            for level in order:
                prefix = f"r{rep}-w{level}"
                took = asyncio.run(write_round(api_url, flow_id, prefix, args.count, level))
                per_deployment[level].append(round(took / args.count, 4))
                print(f"rep {rep} writers {level}: {took:.1f} s", flush=True)
    finally:
        if proxy:
            proxy.stop()
        if server:
            server.stop()
        if postgres:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)

    medians = {level: statistics.median(v) for level, v in per_deployment.items()}
    results = {
        "db": args.db,
        "latency_ms": args.latency_ms,
        "count": args.count,
        "reps": args.reps,
        "command": " ".join(["python", "bench/writers.py", *(argv or sys.argv[1:])]),
        "seconds_per_deployment": per_deployment,
        "median_s_per_deployment": medians,
        "ratio_to_one_writer": {k: round(v / medians[1], 2) for k, v in medians.items()},
    }
    suffix = f"-{args.latency_ms:g}ms" if args.latency_ms else ""
    out = args.out or RESULTS / f"writers-{args.db}{suffix}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for level, median in medians.items():
        print(
            f"{args.db}, {level} writer(s): {median * 1000:.0f} ms per deployment, "
            f"{median / medians[1]:.2f}x one writer"
        )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
