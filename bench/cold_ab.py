"""Cold `plan` and cold no-op `deploy` against a server that already holds the fleet, with
the prewarm workers (`auto`) and without (`FLOWFLEET_RESOLVE_WORKERS=1`), alternating.

    python bench/cold_ab.py --fleet /tmp/bench10k/fleet-10000 --db state.db --reps 2

`--fleet` is a workspace from bench/workspace_gen.py, `--db` a copy of a Prefect SQLite
database that holds its deployments (say the one `bench/fleet.py` left behind), served
by a Prefect server with its services off. Each run clears flowfleet's cache first.
One untimed deploy converges the server first. Wall time, the largest process's peak
(`/usr/bin/time -f %M`) and the process tree's summed peak (tree_rss.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flowfleet.devserver import start_server
from tree_rss import TreePeak

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--actions", default="plan,deploy")
    parser.add_argument("--out", type=Path, default=RESULTS / "cold-ab.json")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="ffcold-"))
    for part in args.db.parent.glob(args.db.name + "*"):  # the database, its -wal and -shm
        shutil.copy(part, home / part.name.replace(args.db.name, "prefect.db"))
    server = start_server(home, services=False, timeout=300)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "FLOWFLEET_", "UV_")) and k != "VIRTUAL_ENV"
    }
    env.update(
        PREFECT_HOME=str(args.fleet / "client-home"),
        PREFECT_API_URL=server.api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        FLOWFLEET_CACHE_DIR=str(home / "cache"),
    )

    def run(action: str, workers: str) -> dict:
        shutil.rmtree(home / "cache", ignore_errors=True)
        rss = home / "rss"
        command = [
            "/usr/bin/time", "-f", "%M", "-o", str(rss),
            str(args.fleet / ".venv/bin/flowfleet"), action, "--env", "bench", "--output", "json",
        ]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=args.fleet,
            env={**env, "FLOWFLEET_RESOLVE_WORKERS": workers},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        tree = TreePeak(process, wrapped=True)
        out, err = process.communicate()
        wall = time.perf_counter() - started
        try:
            summary = json.loads(out).get("summary")
        except ValueError:
            summary = err[-300:]
        return {
            "action": action,
            "workers": workers,
            "wall_s": round(wall, 2),
            "peak_rss_mb": round(int(rss.read_text().split()[-1]) / 1024, 1),
            "tree_rss_mb": tree.stop(),
            "rc": process.returncode,
            "summary": summary,
        }

    results = []
    try:
        print("converge:", run("deploy", "auto"), flush=True)
        for rep in range(args.reps):
            for action in args.actions.split(","):
                for workers in ("auto", "1") if rep % 2 == 0 else ("1", "auto"):
                    results.append(run(action, workers))
                    print(results[-1], flush=True)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
