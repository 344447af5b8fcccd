"""Cold `plan` and cold no-op `deploy` against a server that already holds the fleet, with
the prewarm workers (`auto`) and without (`FLOWFLEET_RESOLVE_WORKERS=0`), alternating.

    python bench/cold_ab.py --fleet /tmp/bench10k/fleet-10000 --db state.db --reps 2

`--fleet` is a workspace from bench/workspace_gen.py, `--db` a copy of a Prefect SQLite
database that holds its deployments (say the one `bench/fleet.py` left behind), served
by a Prefect server with its services off. Each run clears flowfleet's cache first
(`--keep templates` keeps the stock templates; `--keep state` those and the read-scope
file, with which the command reads the server ahead while it resolves).
One untimed deploy converges the server first. Wall time, the largest process's peak
(`/usr/bin/time -f %M`) and the process tree's summed peak (tree_rss.py).

`--baseline DIR` (a checkout of another flowfleet commit) runs its flowfleet alongside,
alternating, each with its own cache folder; `--workers auto` leaves out the runs
without workers; `--warm` clears nothing, so every timed run is warm. One untimed
`plan` per variant first makes what its cache keeps (`--keep`), or fills it (`--warm`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workspace_gen  # noqa: E402
from fleet import KEEP, RESULTS, Runner, clear_cache_folder, git_head  # noqa: E402
from flowfleet.devserver import start_server  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--actions", default="plan,deploy")
    parser.add_argument("--out", type=Path, default=RESULTS / "cold-ab.json")
    parser.add_argument(
        "--keep",
        choices=KEEP,
        default="nothing",
        help="what a cold run keeps of the cache: the stock templates, or those and the "
        "read-scope file, as a user's .state has (each variant's untimed plan makes both)",
    )
    parser.add_argument("--baseline", type=Path, help="another flowfleet checkout, run alongside")
    parser.add_argument("--workers", default="auto,0", help="FLOWFLEET_RESOLVE_WORKERS values")
    parser.add_argument("--warm", action="store_true", help="keep each variant's cache")
    args = parser.parse_args(argv)
    variants = {"this": {}}
    if args.baseline:
        variants["baseline"] = {"PYTHONPATH": str(args.baseline / "packages/flowfleet/src")}

    home = Path(tempfile.mkdtemp(prefix="ffcold-"))
    for part in args.db.parent.glob(args.db.name + "*"):  # the database, its -wal and -shm
        shutil.copy(part, home / part.name.replace(args.db.name, "prefect.db"))
    server = start_server(home, services=False, timeout=300)
    fleet = workspace_gen.Fleet(args.fleet, 0, 0)  # an existing workspace: its size unused
    runner = Runner(fleet, server.api_url)

    def run(action: str, workers: str, variant: str = "this") -> dict:
        cache = home / f"cache-{variant}"
        if not args.warm:
            clear_cache_folder(cache, args.keep)
        env = {"FLOWFLEET_CACHE_DIR": str(cache), "FLOWFLEET_RESOLVE_WORKERS": workers}
        command = runner.command("flowfleet", action)
        result = runner.run(command, extra_env={**env, **variants[variant]})
        out = runner.stdout_json(result) or {}  # deploy: its summary; plan: each list's length
        summary = out.get("summary") or {k: len(v) for k, v in out.items() if isinstance(v, list)}
        return {"action": action, "workers": workers, "variant": variant, **result} | {
            "summary": summary
        }

    results: list[dict] = []
    order = [(w, v) for w in args.workers.split(",") for v in variants]
    try:
        print("converge:", run("deploy", "auto"), flush=True)
        for variant in variants:  # its own cache: the templates and read scope, if kept
            print("prepare:", run("plan", "auto", variant), flush=True)
        for rep in range(args.reps):
            for action in args.actions.split(","):
                for workers, variant in order if rep % 2 == 0 else order[::-1]:
                    results.append(run(action, workers, variant))
                    print(results[-1], flush=True)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    heads = {"this": git_head()} | ({"baseline": git_head(args.baseline)} if args.baseline else {})
    output = {"commits": heads, "keep": args.keep, "warm": args.warm, "runs": results}
    args.out.write_text(json.dumps(output, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
