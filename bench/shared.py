"""A workspace shared with other projects: the example fleet's plan, empty server vs crowded.

    uv run python bench/shared.py                      # 2,000 foreign deployments, 5 reps
    uv run python bench/shared.py --foreign 10000 --reps 7

Two local Prefect servers (SQLite, services off, so no scheduler competes for the
CPU) run side by side. One is empty; the other first gets `--foreign` deployments
of other projects, written through the API (`POST /deployments/`, a few at once),
half labelled by another flowfleet project and half unmanaged, each with a cron
schedule, parameters, job variables and tags, as real deployments have. Both get
this repository's example fleet (`--env dev`, 5 deployments) deployed, so the plan
has nothing to change. Then, alternating, whole processes as a user runs them:

- `flowfleet plan --env dev` on the empty server and on the crowded one: the project
  reads only its own flows, their deployments and its pools (flowfleet.read_scope);
- `flowfleet plan --env dev --prune` on the crowded one: pruning reads everything,
  which is what every plan cost before the scoped read.

Medians and ratios go to stdout and bench/results/shared-<db>-<N>.json. Wall time is
`time.perf_counter()` around the subprocess; peak memory is `/usr/bin/time -f %M`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from flowfleet.client import ApiClient
from flowfleet.devserver import start_server
from flowfleet.observed import read_server_state
from flowfleet.read_scope import ReadScope

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TIME = shutil.which("time") and "/usr/bin/time"
ENV = "dev"


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


async def seed(api_url: str, count: int, writers: int = 4) -> None:
    """`count` deployments of other projects, on count/10 flows."""
    async with ApiClient(api_url) as client:
        flows = []
        for i in range(max(1, count // 10)):
            response = await client.send("POST", "/flows/", json={"name": f"other-{i:05}"})
            flows.append(response.json()["id"])
        limit = asyncio.Semaphore(writers)

        async def one(i: int) -> None:
            body = {
                "name": f"deployment-{i:05}",
                "flow_id": flows[i % len(flows)],
                "schedules": [{"schedule": {"cron": f"{i % 60} * * * *", "timezone": "UTC"}}],
                "parameters": {"days": i % 7, "region": "emea"},
                "job_variables": {"image": f"registry/other:{i}", "cpu": 256, "memory": 512},
                "tags": ["other-team", f"batch-{i % 10}"],
                "description": "a deployment of another project",
                "paused": True,  # no runs, even with services on
            }
            if i % 2:
                body["labels"] = {
                    "flowfleet.managed": "true",
                    "flowfleet.project": "other",
                    "flowfleet.env": ENV,
                }
            async with limit:
                await client.send("POST", "/deployments/", json=body)

        await asyncio.gather(*(one(i) for i in range(count)))


def multiply_sqlite(database: Path, times: int) -> int:
    """Copy every foreign deployment row (and its schedule rows) `times - 1` more times,
    with new ids and names, straight into the server's SQLite file: the API writes
    about ten deployments a second here, so 10,000 through it would pin the machine
    for a quarter of an hour. The copies are rows the server itself wrote, renamed."""
    import sqlite3
    import uuid

    db = sqlite3.connect(database, timeout=60)
    try:
        foreign = [r[0] for r in db.execute("SELECT id FROM flow WHERE name LIKE 'other-%'")]
        marks = ",".join("?" * len(foreign))
        cursor = db.execute(f"SELECT * FROM deployment WHERE flow_id IN ({marks})", foreign)
        columns = [c[0] for c in cursor.description]
        rows = cursor.fetchall()
        children = [
            t
            for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if t != "deployment"
            and "deployment_id" in {c[1] for c in db.execute(f"PRAGMA table_info({t})")}
        ]
        child_rows = {}
        for table in children:
            cursor = db.execute(
                f"SELECT * FROM {table} WHERE deployment_id IN "
                f"(SELECT id FROM deployment WHERE flow_id IN ({marks}))",
                foreign,
            )
            child_rows[table] = ([c[0] for c in cursor.description], cursor.fetchall())
        new_id = (
            (lambda: str(uuid.uuid4())) if "-" in str(rows[0][0]) else (lambda: uuid.uuid4().hex)
        )
        added = 0
        for copy in range(1, times):
            ids = {}
            fresh = []
            for row in rows:
                values = dict(zip(columns, row, strict=True))
                ids[values["id"]] = values["id"] = new_id()
                values["name"] = f"{values['name']}-copy{copy}"
                fresh.append(tuple(values[c] for c in columns))
            _insert(db, "deployment", columns, fresh)
            for table, (names, table_rows) in child_rows.items():
                copied = []
                for row in table_rows:
                    values = dict(zip(names, row, strict=True))
                    values["id"] = new_id()
                    values["deployment_id"] = ids[values["deployment_id"]]
                    copied.append(tuple(values[c] for c in names))
                _insert(db, table, names, copied)
            added += len(fresh)
        db.commit()
        return added
    finally:
        db.close()


def _insert(db, table: str, columns: list[str], rows: list[tuple]) -> None:
    marks = ",".join("?" * len(columns))
    db.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows)


def read_times(api_url: str, scope: ReadScope | None, reps: int) -> list[float]:
    """The server read alone, in this process: `scope` None reads everything."""

    async def timed() -> list[float]:
        times = []
        async with ApiClient(api_url) as client:
            for _ in range(reps):
                started = time.perf_counter()
                await read_server_state(client, api_url, scope)
                times.append(round(time.perf_counter() - started, 4))
        return times

    return asyncio.run(timed())


def count_deployments(api_url: str) -> int:
    async def count() -> int:
        async with ApiClient(api_url) as client:
            return (await client.send("POST", "/deployments/count", json={})).json()

    return asyncio.run(count())


class Runner:
    def __init__(self, work: Path):
        self.work = work
        self.n = 0

    def env(self, api_url: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PREFECT_", "FLOWFLEET_"))
            and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")  # as installs run
        }
        env.update(
            PREFECT_API_URL=api_url,
            PREFECT_HOME=str(self.work / "client-home"),
            FLOWFLEET_BRANCH="main",
            FLOWFLEET_CACHE_DIR=str(self.work / "cache"),
        )
        return env

    def run(self, api_url: str, *args: str) -> dict:
        self.n += 1
        rss = self.work / f"{self.n:04d}.rss"
        argv = [sys.executable, "-m", "flowfleet", *args]
        wrapped = [TIME, "-f", "%M", "-o", str(rss), *argv] if TIME else argv
        started = time.perf_counter()
        done = subprocess.run(
            wrapped, cwd=ROOT, env=self.env(api_url), capture_output=True, text=True
        )
        wall = time.perf_counter() - started
        if done.returncode not in (0, 2):
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}")
        peak = None
        if rss.exists():
            digits = [x for x in rss.read_text().split() if x.isdigit()]
            peak = round(int(digits[-1]) / 1024, 1) if digits else None
        return {"wall_s": round(wall, 3), "peak_rss_mb": peak, "stdout": done.stdout}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--foreign", type=int, default=2000, help="other projects' deployments")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--writers", type=int, default=4, help="concurrent seed writers")
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="after the API seed, copy its rows this many times in all (SQLite file)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ffshared-"))
    runner = Runner(work)
    servers = {}
    results: dict = {
        "foreign": args.foreign,
        "reps": args.reps,
        "started": datetime.now(UTC).isoformat(),
        "command": " ".join(["python", "bench/shared.py", *(argv or sys.argv[1:])]),
    }
    try:
        for name in ("empty", "crowded"):
            servers[name] = start_server(work / name, services=False, timeout=300)
            log(f"{name} server on {servers[name].api_url}")
        started = time.perf_counter()
        asyncio.run(seed(servers["crowded"].api_url, args.foreign, args.writers))
        results["seed_s"] = round(time.perf_counter() - started, 1)
        log(f"seeded {args.foreign} foreign deployments in {results['seed_s']} s")
        if args.copies > 1:
            started = time.perf_counter()
            added = multiply_sqlite(work / "crowded" / "prefect.db", args.copies)
            results["copied"] = added
            results["copy_s"] = round(time.perf_counter() - started, 1)
            log(f"copied {added} more rows in {results['copy_s']} s")
        for server in servers.values():
            runner.run(server.api_url, "pools", "--env", ENV)
            runner.run(server.api_url, "deploy", "--env", ENV)
        results["deployments_on_crowded"] = count_deployments(servers["crowded"].api_url)

        cases = {
            "plan, empty server": (servers["empty"], ()),
            "plan, crowded server": (servers["crowded"], ()),
            "plan --prune, crowded server (reads everything)": (servers["crowded"], ("--prune",)),
        }
        runs: dict[str, list[dict]] = {case: [] for case in cases}
        for rep in range(args.reps + 1):  # the first round warms caches and is not kept
            order = list(cases) if rep % 2 else list(reversed(cases))
            for case in order:
                server, extra = cases[case]
                result = runner.run(server.api_url, "plan", "--env", ENV, "-o", "json", *extra)
                plan = json.loads(result.pop("stdout"))
                assert not plan["create"] and not plan["update"] and not plan["delete"], plan
                result["unchanged"] = len(plan["unchanged"])
                plan_flows = {c["full_name"].split("/")[0] for c in plan["unchanged"]}
                plan_pools = {c["work_pool"] for c in plan["unchanged"]}
                if rep:
                    runs[case].append(result)
        results["runs"] = runs
        scope = ReadScope(frozenset(plan_flows), frozenset(plan_pools))
        results["read_only_s"] = {
            "scoped, empty": read_times(servers["empty"].api_url, scope, args.reps),
            "scoped, crowded": read_times(servers["crowded"].api_url, scope, args.reps),
            "everything, crowded": read_times(servers["crowded"].api_url, None, args.reps),
        }
        medians = {
            case: {
                "wall_s": round(statistics.median(r["wall_s"] for r in rows), 3),
                "peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in rows),
                "unchanged": rows[0]["unchanged"],
            }
            for case, rows in runs.items()
        }
        base = medians["plan, empty server"]["wall_s"]
        for row in medians.values():
            row["ratio_to_empty"] = round(row["wall_s"] / base, 2)
        results["medians"] = medians
        results["finished"] = datetime.now(UTC).isoformat()
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    total = args.foreign * args.copies
    out = args.out or RESULTS / f"shared-sqlite-{total}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\n{total} foreign deployments ({args.foreign} through the API in "
        f"{results['seed_s']} s, {results.get('copied', 0)} copied), "
        f"{results['deployments_on_crowded']} on the server, {args.reps} reps"
    )
    print("| case | median | × empty | peak RSS | unchanged |\n|---|---:|---:|---:|---:|")
    for case, row in medians.items():
        print(
            f"| {case} | {row['wall_s']:.2f} s | {row['ratio_to_empty']:.2f}× "
            f"| {row['peak_rss_mb']:.0f} MB | {row['unchanged']} |"
        )
    for case, times in results["read_only_s"].items():
        print(f"read alone, {case}: median {statistics.median(times) * 1000:.0f} ms")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
