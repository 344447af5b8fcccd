"""`flowfleet validate` and `list` at scale: cold and warm cache, whole processes, no server.

    uv run python bench/validate.py                         # 1,000 deployments, 3 reps
    uv run python bench/validate.py --sizes 1000,10000      # issue 20's 500 x 20 too

Each size is a synthetic workspace from bench/workspace_gen.py (P packages x 20 flows,
installed with compiled bytecode, a git checkout). Per repetition, as a user runs them:

- **cold**: flowfleet's resolution cache cleared first, so every package is imported;
- **warm**: the same command again, every package a cache hit.

`validate` checks every environment; `list --env bench --output json` resolves one.
With `--baseline DIR` (a checkout of another flowfleet commit, e.g. a `git worktree`),
its `packages/flowfleet/src` is put first on PYTHONPATH for a second variant, run
alternately with this one in the same workspace, each with its own cache folder.
With `--variant NAME:VAR=VALUE`, this checkout runs again with that variable set (say
`alone:FLOWFLEET_RESOLVE_WORKERS=0`). Wall time is `time.perf_counter()` around the
subprocess; peak memory is `/usr/bin/time -f %M` (the largest single process) and the
tree's (the command and its prewarm workers, summed, sampled every 0.1 s). Medians go
to stdout and bench/results/validate-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workspace_gen  # noqa: E402
from fleet import KEEP, RESULTS, Runner, clear_cache_folder, git_head, log, machine  # noqa: E402

COMMANDS = {
    "validate": lambda fleet: [str(fleet.flowfleet), "validate"],
    "list": lambda fleet: [
        str(fleet.flowfleet),
        "list",
        "--env",
        workspace_gen.ENV,
        "--output",
        "json",
    ],
}


def measure(
    fleet: workspace_gen.Fleet, reps: int, variants: dict[str, dict], keep: str = "nothing"
) -> list[dict]:
    """`reps` rounds of cold then warm for each command and variant; every sample kept.
    A cold run clears the cache folder but what `keep` names (fleet.KEEP): with
    `templates`, the stock templates, as a cold run on an unchanged install finds them."""
    runner = Runner(fleet, "http://127.0.0.1:9/api")  # validate and list read no server
    samples = []
    for rep in range(reps):
        order = list(variants) if rep % 2 == 0 else list(reversed(variants))
        for variant in order:
            env = variants[variant]
            for name, argv in COMMANDS.items():
                for cache in ("cold", "warm"):
                    if cache == "cold":
                        clear_cache_folder(Path(env["FLOWFLEET_CACHE_DIR"]), keep)
                    run = runner.run(argv(fleet), extra_env=env)
                    samples.append(
                        {"variant": variant, "command": name, "cache": cache, "rep": rep, **run}
                    )
                    log(
                        f"  {variant} {name} {cache}: {run['wall_s']:.2f} s, "
                        f"{run.get('peak_rss_mb')} MB, tree {run.get('tree_rss_mb')} MB"
                    )
    return samples


def summary(samples: list[dict]) -> list[dict]:
    rows = []
    for variant in dict.fromkeys(s["variant"] for s in samples):
        for name in COMMANDS:
            for cache in ("cold", "warm"):
                mine = [
                    s
                    for s in samples
                    if (s["variant"], s["command"], s["cache"]) == (variant, name, cache)
                ]
                rss = [s["peak_rss_mb"] for s in mine if s.get("peak_rss_mb")]
                tree = [s["tree_rss_mb"] for s in mine if s.get("tree_rss_mb")]
                rows.append(
                    {
                        "variant": variant,
                        "command": name,
                        "cache": cache,
                        "median_s": statistics.median(s["wall_s"] for s in mine),
                        "samples_s": [round(s["wall_s"], 2) for s in mine],
                        "peak_rss_mb": max(rss) if rss else None,
                        "tree_rss_mb": max(tree) if tree else None,
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000", help="deployment counts (20 flows each)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    parser.add_argument("--baseline", type=Path, help="another flowfleet checkout, run alongside")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:VAR=VALUE",
        help="this checkout again with one variable set, run alongside "
        "(e.g. alone:FLOWFLEET_RESOLVE_WORKERS=0)",
    )
    parser.add_argument(
        "--keep",
        choices=KEEP,
        default="nothing",
        help="what a cold run keeps of the cache: the stock templates (the first cold run "
        "makes them), or those and the read-scope file",
    )
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="flowfleet-validate-"))
    started = datetime.now(UTC)
    results: dict = {
        "command": "uv run python bench/validate.py " + " ".join(argv or sys.argv[1:]),
        "started": started.isoformat(timespec="seconds"),
        "flowfleet_commit": git_head(),
        "machine": machine(),
        "sizes": {},
    }
    variants = {"this": {}}
    if args.baseline:
        results["baseline_commit"] = git_head(args.baseline)
        variants["baseline"] = {"PYTHONPATH": str(args.baseline / "packages/flowfleet/src")}
    for variant in args.variant:
        name, _, setting = variant.partition(":")
        variable, _, value = setting.partition("=")
        variants[name] = {variable: value}
    out = RESULTS / f"validate-{started:%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for size in (int(s) for s in args.sizes.split(",")):
        packages, flows = max(1, size // 20), min(20, size)
        fleet = workspace_gen.generate(workdir / f"fleet-{size}", packages, flows, log=log)
        for variant, env in variants.items():
            env["FLOWFLEET_CACHE_DIR"] = str(fleet.root / ".state" / f"cache-{variant}")
        samples = measure(fleet, args.reps, variants, args.keep)
        rows = summary(samples)
        results["sizes"][str(size)] = {"packages": packages, "flows": flows, "rows": rows}
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"\n{size} deployments ({packages} packages x {flows} flows), {args.reps} reps")
        print("| flowfleet | command | cache | median | samples (s) | peak RSS | tree |")
        print("|---|---|---|---:|---|---:|---:|")
        for row in rows:
            print(
                f"| {row['variant']} | `{row['command']}` | {row['cache']} | "
                f"{row['median_s']:.2f} s | "
                f"{', '.join(map(str, row['samples_s']))} | {row['peak_rss_mb']} MB | "
                f"{row['tree_rss_mb']} MB |"
            )
    log(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
