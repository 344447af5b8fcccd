"""Turn a results JSON from bench/fleet.py into docs/benchmarks.md and its plot.

uv run python bench/report.py bench/results/fleet-sqlite-....json
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
FINDINGS = Path(__file__).resolve().parent / "findings.md"

SCENARIOS = (
    "first deploy",
    "no-op redeploy",
    "one-change redeploy",
    "plan (no change)",
    "plan (no change, cold cache)",
    "plan (one change)",
    "one-change redeploy (pinned tag)",
    "plan (one change, pinned tag)",
)


# The seed always pins its image, so its one-change row is the counterpart of both.
SEED_COUNTERPART = {"one-change redeploy (pinned tag)": "one-change redeploy"}


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def medians(size: dict) -> dict[tuple[str, str], dict]:
    """(tool, scenario) -> median wall, median peak RSS, samples."""
    out: dict[tuple[str, str], dict] = {}
    for row in size["runs"]:
        entry = out.setdefault((row["tool"], row["scenario"]), {"wall": [], "rss": []})
        entry["wall"].append(row["wall_s"])
        if row.get("peak_rss_mb"):
            entry["rss"].append(row["peak_rss_mb"])
    floors = [row["wall_s"] for row in size.get("floor", [])]
    if floors:
        out[("floor", "first deploy")] = {"wall": floors, "rss": []}
    for entry in out.values():
        entry["median"] = median(entry["wall"])
        entry["rss_median"] = median(entry["rss"])
    return out


def fmt(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    if unit == "x":
        return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"
    return f"{value:.0f} {unit}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summary_of(size: dict, scenario: str) -> str:
    rows = [r for r in size["runs"] if r["tool"] == "flowfleet" and r["scenario"] == scenario]
    summaries = {json.dumps(r.get("summary"), sort_keys=True) for r in rows if r.get("summary")}
    if len(summaries) != 1:
        return ""
    summary = json.loads(summaries.pop())
    return ", ".join(f"{v} {k}" for k, v in summary.items() if v)


def size_table(size_name: str, size: dict) -> list[str]:
    m = medians(size)
    floor = (m.get(("floor", "first deploy")) or {}).get("median")
    done = len({r["rep"] for r in size["runs"]})  # repetitions actually measured
    planned = f" of {size['reps']} planned" if done != size["reps"] else ""
    lines = [
        f"### {int(size_name):,} deployments ({size['packages']} packages × {size['flows']} flows,"
        f" {done} rep{'s' if done != 1 else ''}{planned})",
        "",
        "| scenario | flowfleet | seed | flowfleet/seed | floor | flowfleet/floor "
        "| peak RSS flowfleet / seed | flowfleet did |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for scenario in SCENARIOS:
        ff = m.get(("flowfleet", scenario))
        seed = m.get(("seed", SEED_COUNTERPART.get(scenario, scenario)))
        if not ff and not seed:
            continue
        ffm = ff and ff["median"]
        seedm = seed and seed["median"]
        fl = floor if scenario == "first deploy" else None
        rss = f"{fmt(ff and ff['rss_median'], 'MB')} / {fmt(seed and seed['rss_median'], 'MB')}"
        lines.append(
            f"| {scenario} | {fmt(ffm)} | {fmt(seedm)} | {fmt(ratio(ffm, seedm), 'x')} "
            f"| {fmt(fl)} | {fmt(ratio(ffm, fl), 'x')} | {rss} | {summary_of(size, scenario)} |"
        )
    lines.append("")
    flows = median([r["flows_wall_s"] for r in size.get("floor", []) if r.get("flows_wall_s")])
    first = (m.get(("flowfleet", "first deploy")) or {}).get("median")
    if flows is not None and floor:
        lines += [
            f"The floor creates the flows first, untimed: that took {fmt(flows)} (median). "
            f"Every tool must create them too; floor plus flows is {fmt(floor + flows)}, "
            f"and flowfleet's first deploy is {fmt(ratio(first, floor + flows), 'x')} that.",
            "",
        ]
    samples = []
    for (tool, scenario), entry in sorted(m.items()):
        samples.append(f"{tool} {scenario}: " + ", ".join(f"{w:.2f}" for w in entry["wall"]))
    lines += ["<details><summary>every sample (s)</summary>", "", *samples, "", "</details>", ""]
    return lines


def growth_table(results: dict) -> list[str]:
    sizes = sorted(results["sizes"], key=int)
    if len(sizes) < 2:
        return []
    all_m = {s: medians(results["sizes"][s]) for s in sizes}
    head = " | ".join(f"{int(s):,}" for s in sizes)
    lines = [
        f"| tool, scenario | {head} | growth {int(sizes[0]):,}→{int(sizes[-1]):,} "
        "| ms per deployment at the largest |",
        "|---|" + "---:|" * (len(sizes) + 2),
    ]
    keys = sorted({k for m in all_m.values() for k in m})
    for key in keys:
        values = [all_m[s].get(key, {}).get("median") for s in sizes]
        grow = ratio(values[-1], values[0])
        per = values[-1] / int(sizes[-1]) * 1000 if values[-1] is not None else None
        cells = " | ".join(fmt(v) for v in values)
        lines.append(f"| {key[0]}, {key[1]} | {cells} | {fmt(grow, 'x')} | {fmt(per, 'ms')} |")
    return [*lines, ""]


def calls_section(results: dict) -> list[str]:
    calls = results.get("calls")
    if not calls:
        return []
    n = calls["deployments"]
    lines = [
        f"Counted through a loopback counting proxy, in separate runs at {n} deployments "
        "(never in the timed runs). Writes above one per deployment are the clients' retries "
        "after a 503 (SQLite locked); `GET /csrf-token` is Prefect's client asking for a "
        "CSRF token before writes.",
        "",
        "| tool, scenario | calls | per deployment | by method and path |",
        "|---|---:|---:|---|",
    ]
    for key, entry in calls["by_scenario"].items():
        paths = "<br>".join(f"`{p}` {c}" for p, c in entry["by_path"].items())
        lines.append(f"| {key} | {entry['total']} | {entry['per_deployment']} | {paths} |")
    return [*lines, ""]


def imports_section(results: dict) -> list[str]:
    imports = results.get("imports")
    if not imports:
        return []
    lines = ["| process | median wall |", "|---|---:|"]
    by_package = None
    for name, entry in imports.items():
        if "median_s" in entry:
            lines.append(f"| `{name}` | {fmt(entry['median_s'])} |")
        else:
            by_package = (name, entry)
    lines.append("")
    if by_package:
        lines.append(f"`-X importtime`, {by_package[0]}:")
        lines.append("")
        lines.append(", ".join(f"{k} {v:.3f}" for k, v in by_package[1].items()))
        lines.append("")
    return lines


def targets(results: dict) -> list[str]:
    sizes = sorted(results["sizes"], key=int)
    if not sizes:
        return []
    size = sizes[-1]
    m = medians(results["sizes"][size])

    def get(tool: str, scenario: str) -> float | None:
        return (m.get((tool, scenario)) or {}).get("median")

    rows = []

    def row(target: str, value: float | None, goal: float, higher_better: bool, unit: str) -> None:
        if value is None:
            rows.append(f"| {target} | not measured | | |")
            return
        met = value >= goal if higher_better else value <= goal
        if higher_better:
            by = f"{value / goal:.2f}× the goal" if met else f"short by {goal / value:.2f}×"
        else:
            u = "×" if unit == "x" else f" {unit}"
            by = f"{goal - value:.2f}{u} to spare" if met else f"over by {value - goal:.2f}{u}"
        shown = f"{value:.2f}{'×' if unit == 'x' else ' ' + unit}"
        rows.append(f"| {target} | {shown} | {'**met**' if met else '**missed**'} | {by} |")

    row(
        "no-op redeploy ≥ 50× faster than seed",
        ratio(get("seed", "no-op redeploy"), get("flowfleet", "no-op redeploy")),
        50,
        True,
        "x",
    )
    row(
        "first deploy ≥ 2× faster than seed",
        ratio(get("seed", "first deploy"), get("flowfleet", "first deploy")),
        2,
        True,
        "x",
    )
    row(
        "first deploy ≤ 1.3× the raw floor",
        ratio(get("flowfleet", "first deploy"), get("floor", "first deploy")),
        1.3,
        False,
        "x",
    )
    row("one-change redeploy < 3 s", get("flowfleet", "one-change redeploy"), 3, False, "s")
    row("plan (no change) < 3 s", get("flowfleet", "plan (no change)"), 3, False, "s")
    row("plan (one change) < 3 s", get("flowfleet", "plan (one change)"), 3, False, "s")
    row(
        "one-change redeploy < 3 s, image tag pinned as the seed's",
        get("flowfleet", "one-change redeploy (pinned tag)"),
        3,
        False,
        "s",
    )
    row(
        "plan (one change) < 3 s, image tag pinned",
        get("flowfleet", "plan (one change, pinned tag)"),
        3,
        False,
        "s",
    )
    return [
        f"Issue 8's targets, at {int(size):,} deployments (medians):",
        "",
        "| target | measured | verdict | margin |",
        "|---|---:|---|---|",
        *rows,
        "",
    ]


def plot(results: dict, png: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = sorted(results["sizes"], key=int)
    if not sizes:
        return False
    all_m = {s: medians(results["sizes"][s]) for s in sizes}
    keys = sorted({k for m in all_m.values() for k in m})
    style = {"flowfleet": "-", "seed": "--", "floor": ":"}
    colour = {
        "first deploy": "tab:blue",
        "no-op redeploy": "tab:green",
        "one-change redeploy": "tab:orange",
        "plan (no change)": "tab:purple",
        "plan (no change, cold cache)": "tab:gray",
        "plan (one change)": "tab:brown",
        "one-change redeploy (pinned tag)": "tab:red",
        "plan (one change, pinned tag)": "tab:pink",
    }
    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    for key in keys:
        xs = [int(s) for s in sizes if key in all_m[s]]
        ys = [all_m[s][key]["median"] for s in sizes if key in all_m[s]]
        label = "raw floor (bare POST /deployments/)" if key[0] == "floor" else " ".join(key)
        ax.plot(
            xs,
            ys,
            style.get(key[0], "-"),
            color="black" if key[0] == "floor" else colour.get(key[1]),
            marker="s" if key[0] == "seed" else "o",
            label=label,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([int(s) for s in sizes], [f"{int(s):,}" for s in sizes])
    ax.axhline(3, color="grey", linewidth=0.8, alpha=0.6)
    ax.text(int(sizes[0]), 3.2, "3 s", color="grey", fontsize=8)
    ax.set_xlabel("deployments")
    ax.set_ylabel("wall time, whole process (s, median)")
    ax.set_title(f"flowfleet vs the seed pattern (Prefect server on {results['db']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return True


def write(results: dict, source: Path, docs: Path = DOCS) -> Path:
    docs.mkdir(exist_ok=True)
    png = docs / "benchmarks.png"
    has_plot = plot(results, png)
    machine = results["machine"]
    rel = source.resolve().relative_to(REPO) if source.resolve().is_relative_to(REPO) else source
    lines = [
        "# Benchmarks: flowfleet against the blog post's `prefect.deploy()` pattern",
        "",
        f"Generated by `bench/fleet.py` from [`{rel}`](../{rel}); issue 8. "
        "The machine is shared with other engineers running tests, so the absolute "
        "numbers are noisy: read the medians and the ratios, measured alternately in one run, "
        "not absolute promises.",
        "",
        "## Command and machine",
        "",
        f"- Command: `{results['command']}` (`make bench ARGS='...'`)",
        f"- flowfleet at `{results.get('flowfleet_commit', '?')}` plus the working tree",
        f"- Started {results['started']}, finished {results.get('finished', '?')}",
        f"- {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory_gb']} GB memory, "
        f"{machine['platform']}",
        f"- Python {machine['python']}, Prefect {machine.get('prefect', '?')}, "
        f"server database: {results['db']} "
        f"(server started with its services {results.get('services', 'on')})",
        "",
        "## What is measured",
        "",
        "- A synthetic uv workspace outside the repo: P packages × F flows, each package a "
        "workspace member with a `flowfleet` entry point; ECS (valid Fargate sizes) and "
        "`Worker()` infra; cron, interval, rrule and unscheduled flows in five time zones; "
        "one deployment in seven paused.",
        "- **flowfleet**: `flowfleet deploy --env bench` and `flowfleet plan --env bench`, "
        "each a whole process from the workspace's venv.",
        "- **seed**: the blog post's pattern as `seed.py` in that workspace: a hand-kept "
        "import list of every flow module, `flow.to_deployment(...)` per registration "
        "(same names, pools, schedules, parameters, tags, job variables, module-path "
        "entrypoints), then one `prefect.deploy(..., build=False, push=False)` per work pool. "
        "The seed has no plan: n/a.",
        "- **floor**: the bare `POST /deployments/` calls alone, sequential over one "
        "keep-alive httpx connection, with flowfleet's own request bodies and the flows "
        "created beforehand (untimed).",
        "- **first deploy**: into an empty server. Before each one the Prefect server is "
        "restarted on a fresh database and only the work pools are created, so every tool "
        "starts from the same state; flowfleet's local cache, if any, is cleared (cold).",
        "- **no-op redeploy**: the same command again. **one-change redeploy**: one flow's "
        "cron edited in one package's source file, then the command; the file is restored "
        "afterwards. **plan**: on the synced server, and with the one change pending; "
        "**plan (no change, cold cache)**: flowfleet's cache cleared first, as a fresh "
        "checkout planning against a server that already holds the fleet. "
        "flowfleet makes two such edits per repetition (the seed, whose redeploy takes "
        "minutes, one).",
        "- **image tags**: the seed pins one image. flowfleet's default tags are "
        "content-addressed per package, so its one-cron edit also moves that package's "
        "image deployments to a new tag (a new image). On odd repetitions flowfleet runs "
        "its whole sequence with `IMAGE_TAG` pinned, as the seed does; those one-change "
        'rows are named "(pinned tag)". First deploy, no-op and plan rows mix both.',
        "- A deploy that exits early while the server still lacks deployments is run again, "
        "as flowfleet's own message advises, and its time is the sum of the runs (listed "
        "under `attempts` in the JSON).",
        "- Wall time is `time.perf_counter()` around the subprocess; peak memory is "
        "`/usr/bin/time -f %M` (max RSS); the tools alternate, and their order flips "
        "every repetition.",
        "",
        "## Results",
        "",
    ]
    for name in sorted(results["sizes"], key=int):
        lines += size_table(name, results["sizes"][name])
    growth = growth_table(results)
    if growth:
        lines += ["## Growth", "", *growth]
    if has_plot:
        lines += ["![wall time against deployments](benchmarks.png)", ""]
    lines += ["## Targets", "", *targets(results)]
    calls = calls_section(results)
    if calls:
        lines += ["## API calls", "", *calls]
    imports = imports_section(results)
    if imports:
        lines += ["## Import time", "", *imports]
    if FINDINGS.exists():
        lines += [FINDINGS.read_text().rstrip(), ""]
    if results.get("notes"):
        lines += ["## Notes", "", *(f"- {n}" for n in results["notes"]), ""]
    path = docs / "benchmarks.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def merge(paths: list[Path]) -> dict:
    """Several runs as one: a later file's size replaces an earlier one's; commands and
    notes are kept from each."""
    merged: dict = {}
    for path in paths:
        data = json.loads(path.read_text())
        if not merged:
            merged = {**data, "sizes": {}, "notes": [], "commands": []}
        merged["sizes"].update(data["sizes"])
        merged["commands"].append(data["command"])
        for key in ("calls", "imports"):
            if data.get(key):
                merged[key] = data[key]
        merged["notes"] += [n for n in data.get("notes", []) if n not in merged["notes"]]
        merged["finished"] = data.get("finished")
        merged["flowfleet_commit"] = data.get("flowfleet_commit")
    merged["command"] = " ; ".join(merged["commands"])
    return merged


if __name__ == "__main__":
    # report.py RESULTS.json [MORE.json ...] [--out MERGED.json]
    args = sys.argv[1:]
    out = None
    if "--out" in args:
        i = args.index("--out")
        out = Path(args[i + 1])
        del args[i : i + 2]
    paths = [Path(a) for a in args]
    results = merge(paths) if len(paths) > 1 else json.loads(paths[0].read_text())
    if out:
        out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(write(results, out or paths[0]))
