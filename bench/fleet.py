"""Fleet-scale deploy benchmark: flowfleet against the blog post's `prefect.deploy()` seed.

    uv run python bench/fleet.py                       # 5 x 20 = 100 deployments, SQLite
    uv run python bench/fleet.py --sizes 100,1000 --reps 3
    uv run python bench/fleet.py --sizes 10000 --reps 1 --tools flowfleet --services off
    uv run python bench/fleet.py --packages 2 --flows 3 --reps 1   # a quick smoke run
    uv run python bench/fleet.py --db postgres

For each size it generates a synthetic uv workspace outside the repo, starts one
local Prefect server, and then, alternating between the tools, measures whole
processes (what users run): a first deploy into an empty server, a no-op
redeploy, a one-change redeploy (one flow's cron edited), and flowfleet's plan
(with nothing and with one change to show). "Empty" means a server restarted on
a fresh database, with only the work pools created. It also measures the raw
floor (bare sequential `POST /deployments/`), counts API calls per deployment
through a loopback counting proxy (a separate, small run), and import times.
A deploy that exits early while the server still lacks deployments is run
again (as flowfleet's own message advises); its time is the sum of the runs.
Raw results go to bench/results/*.json; docs/benchmarks.md is regenerated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

import report
import workspace_gen
from proxy import CountingProxy
from servers import BenchServer
from tree_rss import TreePeak

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
TIME = shutil.which("time") and "/usr/bin/time"
TOOLS = ("flowfleet", "seed")


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# ---------------------------------------------------------------- running one command


class Runner:
    """Runs whole processes in the synthetic workspace; wall time and peak RSS for each."""

    def __init__(self, fleet: workspace_gen.Fleet, api_url: str):
        self.fleet = fleet
        self.api_url = api_url
        self.logs = fleet.root / "logs"
        self.logs.mkdir(exist_ok=True)
        self.counter = 0

    def env(self, api_url: str | None = None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PREFECT_", "FLOWFLEET_", "UV_"))
            and k not in ("VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
        }
        env.update(
            PREFECT_HOME=str(self.fleet.root / "client-home"),
            PREFECT_API_URL=api_url or self.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PATH=f"{self.fleet.root / '.venv' / 'bin'}:{env.get('PATH', '')}",
        )
        return env

    def command(self, tool: str, action: str) -> list[str]:
        if tool == "seed":
            return [str(self.fleet.python), "seed.py"]
        return [str(self.fleet.flowfleet), action, "--env", workspace_gen.ENV, "--output", "json"]

    def run(
        self,
        argv: list[str],
        *,
        api_url: str | None = None,
        check: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> dict:
        self.counter += 1
        stem = self.logs / f"{self.counter:04d}"
        mem = stem.with_suffix(".rss")
        wrapped = [TIME, "-f", "%M", "-o", str(mem), *argv] if TIME else argv
        with open(f"{stem}.out", "wb") as out, open(f"{stem}.err", "wb") as err:
            started = time.perf_counter()
            process = subprocess.Popen(
                wrapped,
                cwd=self.fleet.root,
                env={**self.env(api_url), **(extra_env or {})},
                stdout=out,
                stderr=err,
            )
            tree = TreePeak(process, wrapped=bool(TIME))
            rc = process.wait()
            wall = time.perf_counter() - started
        rss_kb = _read_rss(mem)
        result = {"wall_s": round(wall, 3), "peak_rss_mb": rss_kb and round(rss_kb / 1024, 1)}
        result["tree_rss_mb"] = tree.stop()  # the command and its workers, summed
        result["rc"] = rc
        result["log"] = str(stem)
        if check and rc not in (0, 2):
            tail = Path(f"{stem}.err").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(argv)} exited {rc}:\n{tail}")
        return result

    def stdout_json(self, result: dict) -> dict | None:
        try:
            return json.loads(Path(f"{result['log']}.out").read_text())
        except (OSError, ValueError):
            return None


def _read_rss(path: Path) -> int | None:
    try:
        lines = [x for x in path.read_text().split() if x.isdigit()]
        return int(lines[-1]) if lines else None
    except OSError:
        return None


def server_counts(api_url: str) -> dict[str, int]:
    with httpx.Client(base_url=api_url, timeout=60) as client:
        deployments = client.post("/deployments/count", json={}).json()
        flows = client.post("/flows/count", json={}).json()
    return {"deployments": deployments, "flows": flows}


def summarise_plan(data: dict | None) -> dict | None:
    """Counts of a flowfleet plan/deploy JSON output, whatever its exact shape."""
    if not isinstance(data, dict):
        return None
    summary = {}
    for key in ("create", "update", "unchanged", "delete"):
        if isinstance(data.get(key), list):
            summary[key] = len(data[key])
    outcomes = data.get("results", data.get("outcomes"))
    if isinstance(outcomes, list):
        for outcome in outcomes:
            status = outcome.get("status", "?")
            summary[status] = summary.get(status, 0) + 1
    return summary or None


# ---------------------------------------------------------------- one-change edit


@contextlib.contextmanager
def one_change(fleet: workspace_gen.Fleet, to: str = workspace_gen.CHANGED_CRON_TO):
    """Edit one flow's cron in one package's source; restore the file afterwards."""
    path = fleet.changed_file
    original = path.read_bytes()
    text = original.decode()
    if workspace_gen.CHANGED_CRON_FROM not in text:
        raise RuntimeError(f"{path}: the cron to edit is missing")
    path.write_text(text.replace(workspace_gen.CHANGED_CRON_FROM, to))
    try:
        yield
    finally:
        path.write_bytes(original)


# Where flowfleet may keep a per-package resolution cache; cleared before each
# "first deploy" so that it is measured cold, as on a fresh CI checkout.
CACHE_NAMES = (".state/cache", ".flowfleet", ".flowfleet-cache")


def clear_flowfleet_cache(fleet: workspace_gen.Fleet) -> list[str]:
    cleared = []
    for name in CACHE_NAMES:
        path = fleet.root / name
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            cleared.append(name)
    for home in (fleet.root / "client-home",):
        cache = home / "flowfleet"
        if cache.exists():
            shutil.rmtree(cache)
            cleared.append(str(cache))
    return cleared


# What a cold run may keep of flowfleet's cache folder (FLOWFLEET_CACHE_DIR): nothing,
# the stock templates (template_store.py), or those and the read-scope file, with which
# a command reads the server ahead while it resolves: what a user's `.state` holds.
KEEP = {"nothing": frozenset(), "templates": {"templates"}, "state": {"templates", "read_scope"}}


def clear_cache_folder(folder: Path, keep: str = "nothing") -> None:
    """Empty `folder` for a cold run, except what `keep` (a KEEP key) names."""
    for part in folder.glob("*"):
        if part.name not in KEEP[keep]:
            shutil.rmtree(part, ignore_errors=True) if part.is_dir() else part.unlink()


# ---------------------------------------------------------------- the measurements


def prepare_server(server: BenchServer, runner: Runner) -> None:
    server.reset()
    runner.run([str(runner.fleet.flowfleet), "pools", "--env", workspace_gen.ENV])


def measure_tool(
    tool: str, fleet, server: BenchServer, runner: Runner, rep: int, changes: bool = True
) -> list[dict]:
    """One tool's sequence on an empty server: first deploy, no-op, plan (warm, then
    with the cache cleared), one change.

    The seed pins one image; flowfleet's default image tags are content-addressed,
    so its one-cron edit also moves that package's image deployments to a new tag.
    On odd repetitions flowfleet runs the whole sequence with `IMAGE_TAG` pinned, as
    the seed has it, and its one-change rows are named "(pinned tag)". flowfleet
    makes two one-cron edits per repetition (each one deployment's change), because
    they take seconds; the seed's take minutes, so it makes one. `changes=False`
    stops after the no-op rows (`--no-changes`), for the long PostgreSQL runs.
    """
    rows = []

    def record(scenario: str, action: str = "deploy", extra_env: dict | None = None) -> dict:
        result = runner.run(
            runner.command(tool, action), check=action != "deploy", extra_env=extra_env
        )
        attempts = [dict(result)]
        # A deploy that stops early (flowfleet aborts at a 503 that outlives the client's
        # retries) is run again, as its message says, until the server holds the fleet;
        # the wall time is the sum, and the failed attempts are recorded.
        while (
            result["rc"] not in (0, 2)
            and len(attempts) < 4
            and server_counts(server.api_url)["deployments"] < fleet.deployments
        ):
            log(f"  {tool} {scenario}: exited {result['rc']}, running it again")
            result = runner.run(runner.command(tool, action), check=False, extra_env=extra_env)
            attempts.append(dict(result))
        if result["rc"] not in (0, 2):
            tail = Path(f"{result['log']}.err").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{tool} {scenario} exited {result['rc']}:\n{tail}")
        if len(attempts) > 1:
            result = dict(result)
            result["wall_s"] = round(sum(a["wall_s"] for a in attempts), 3)
            result["peak_rss_mb"] = max(a["peak_rss_mb"] or 0 for a in attempts)
            result["attempts"] = attempts
        result.update(tool=tool, scenario=scenario, rep=rep, deployments=fleet.deployments)
        if tool == "flowfleet":
            result["summary"] = summarise_plan(runner.stdout_json(result))
        if action == "deploy":
            result["server"] = server_counts(server.api_url)
            if result["server"]["deployments"] != fleet.deployments:
                log(f"WARNING: server holds {result['server']} after {tool} {scenario}")
        again = f"  ({len(result['attempts'])} runs)" if result.get("attempts") else ""
        log(
            f"  {tool:9} {scenario:20} {result['wall_s']:8.2f}s  "
            f"{result['peak_rss_mb']} MB  {result.get('summary') or ''}{again}"
        )
        rows.append(result)
        return result

    pinned = tool == "flowfleet" and rep % 2 == 1
    env = {"IMAGE_TAG": "bench-pinned"} if pinned else None
    prepare_server(server, runner)
    if tool == "flowfleet":
        cleared = clear_flowfleet_cache(fleet)
        if cleared:
            log(f"  cleared flowfleet cache: {cleared}")
    record("first deploy", extra_env=env)
    record("no-op redeploy", extra_env=env)
    if tool == "flowfleet":
        record("plan (no change)", "plan", extra_env=env)
        # A fresh CI checkout planning against a server that already holds the fleet:
        # the resolve and the whole read at once, the highest peak found at 10,000.
        clear_flowfleet_cache(fleet)
        record(COLD_PLAN, "plan", extra_env=env)
    if not changes:
        return rows
    edits = workspace_gen.CHANGED_CRONS if tool == "flowfleet" else workspace_gen.CHANGED_CRONS[:1]
    for to in edits:
        with one_change(fleet, to):
            if tool == "flowfleet":
                record(PINNED_PLAN if pinned else "plan (one change)", "plan", extra_env=env)
            record(PINNED_DEPLOY if pinned else "one-change redeploy", extra_env=env)
    return rows


COLD_PLAN = "plan (no change, cold cache)"
PINNED_PLAN = "plan (one change, pinned tag)"
PINNED_DEPLOY = "one-change redeploy (pinned tag)"


def measure_floor(fleet, server: BenchServer, runner: Runner, rep: int) -> dict:
    prepare_server(server, runner)
    shutil.copy(BENCH / "floor.py", fleet.root / "floor.py")
    result = runner.run([str(fleet.python), "floor.py", workspace_gen.ENV, server.api_url])
    data = runner.stdout_json(result) or {}
    row = {
        "retries_503": data.get("retries_503"),
        "flows_wall_s": data.get("flows_wall_s") and round(data["flows_wall_s"], 3),
        "tool": "floor",
        "scenario": "first deploy",
        "rep": rep,
        "deployments": fleet.deployments,
        "wall_s": round(data["wall_s"], 3),
        "process_wall_s": result["wall_s"],
        "server": server_counts(server.api_url),
    }
    log(f"  {'floor':9} {'POST /deployments/':20} {row['wall_s']:8.2f}s")
    return row


def count_calls(fleet, server: BenchServer, runner: Runner, tools: tuple[str, ...]) -> dict:
    """API calls by method and path for each tool and scenario, through the counting proxy."""
    proxy = CountingProxy("127.0.0.1", server.port).start()
    counts: dict[str, dict] = {}
    try:
        for tool in tools:
            prepare_server(server, runner)
            clear_flowfleet_cache(fleet)
            scenarios = [("first deploy", "deploy"), ("no-op redeploy", "deploy")]
            if tool == "flowfleet":
                scenarios.append(("plan (no change)", "plan"))
            for scenario, action in scenarios:
                proxy.take()
                runner.run(runner.command(tool, action), api_url=proxy.api_url())
                counts[f"{tool}/{scenario}"] = _calls(proxy.take(), fleet.deployments)
            with one_change(fleet):
                later = [("one-change redeploy", "deploy")]
                if tool == "flowfleet":
                    later.insert(0, ("plan (one change)", "plan"))
                for scenario, action in later:
                    proxy.take()
                    runner.run(runner.command(tool, action), api_url=proxy.api_url())
                    counts[f"{tool}/{scenario}"] = _calls(proxy.take(), fleet.deployments)
            for key, value in counts.items():
                if key.startswith(tool):
                    log(f"  calls {key:32} {value['total']:6} ({value['per_deployment']}/dep)")
    finally:
        proxy.stop()
    return counts


def _calls(by_path: dict[str, int], deployments: int) -> dict:
    total = sum(by_path.values())
    return {
        "total": total,
        "per_deployment": round(total / deployments, 2),
        "by_path": by_path,
    }


def import_times(fleet: workspace_gen.Fleet, reps: int = 5) -> dict:
    """Whole-process import costs in the synthetic workspace's interpreter."""
    py = str(fleet.python)
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import prefect'": [py, "-c", "import prefect"],
        "python -c 'import flowfleet'": [py, "-c", "import flowfleet"],
        "python -c 'import flowfleet.cli'": [py, "-c", "import flowfleet.cli"],
        "flowfleet --help": [str(fleet.flowfleet), "--help"],
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_")
        and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    env["PREFECT_HOME"] = str(fleet.root / "client-home")
    # Without bytecode: every module compiled from source on every start, as when
    # PYTHONDONTWRITEBYTECODE=1 and no .pyc was ever written (an empty pycache prefix).
    no_pyc = dict(env, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(fleet.root / "no-pyc"))
    times: dict[str, dict] = {}
    for variant, variant_env in (("", env), (" [no .pyc]", no_pyc)):
        for name, argv in cases.items():
            samples = []
            for _ in range(reps):
                started = time.perf_counter()
                subprocess.run(
                    argv, cwd=fleet.root, env=variant_env, check=True, capture_output=True
                )
                samples.append(time.perf_counter() - started)
            key = name + variant
            times[key] = {"median_s": round(statistics.median(samples), 3), "samples": samples}
            log(f"  import {key:44} {times[key]['median_s']:.3f}s")
    # Who pays for `import flowfleet.cli` (and `flowfleet plan`'s first import): self time by
    # top-level package, from -X importtime.
    done = subprocess.run(
        [py, "-X", "importtime", "-c", "import flowfleet.engine, flowfleet.cli"],
        cwd=fleet.root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: dict[str, int] = {}
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s+(.*)$", line)
        if m:
            top = m.group(3).strip().split(".")[0]
            by_package[top] = by_package.get(top, 0) + int(m.group(1))
    top = sorted(by_package.items(), key=lambda kv: -kv[1])[:12]
    times["flowfleet.engine+cli importtime self-time by package (s)"] = {
        k: round(v / 1e6, 3) for k, v in top
    }
    return times


# ---------------------------------------------------------------- driver


def machine() -> dict:
    def cpu_model() -> str:
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        return platform.processor()

    def mem_gb() -> float | None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
        return None

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gb": mem_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def prefect_version(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import prefect; print(prefect.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()


def guarded(results: dict, measure, *args) -> list[dict]:
    """Run one measurement; a failure is logged and noted, and the run goes on."""
    try:
        found = measure(*args)
    except Exception as exc:  # noqa: BLE001 - one failed sample must not lose the run
        note = f"{measure.__name__}{tuple(a for a in args if isinstance(a, str | int))}: {exc}"
        log(f"ERROR {note}")
        results["notes"].append(f"failed and left out: {note[:500]}")
        return []
    return found if isinstance(found, list) else [found]


def parse_reps(text: str, sizes: list[int]) -> dict[int, int]:
    """`3` or `100:3,1000:2`."""
    if ":" not in text:
        return dict.fromkeys(sizes, int(text))
    reps = dict.fromkeys(sizes, 1)
    for part in text.split(","):
        size, count = part.split(":")
        reps[int(size)] = int(count)
    return reps


def git_head(checkout: Path = BENCH.parent) -> str:
    done = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"], cwd=checkout, capture_output=True, text=True
    )
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 100 deployments by default: `make bench` with no ARGS stays under 15 minutes on a
    # laptop. At 1,000 the seed alone takes minutes per deploy; sizes are options.
    parser.add_argument("--packages", type=int, default=5)
    parser.add_argument("--flows", type=int, default=20, help="flows per package")
    parser.add_argument(
        "--sizes", help="deployment counts, e.g. 100,1000 (packages = size / --flows)"
    )
    parser.add_argument("--reps", default="3", help="repetitions: 3, or per size: 100:3,1000:2")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    parser.add_argument("--count-size", type=int, default=100, help="deployments (0: skip)")
    parser.add_argument("--tools", default="flowfleet,seed")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument(
        "--no-changes", action="store_true", help="first deploy, no-op and plan only"
    )
    parser.add_argument(
        "--services", choices=("on", "off"), default="on", help="the server's scheduler etc."
    )
    parser.add_argument("--no-imports", action="store_true")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/...)")
    parser.add_argument("--no-report", action="store_true", help="do not write docs/")
    args = parser.parse_args(argv)

    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
        shapes = {s: (max(1, s // args.flows), min(args.flows, s)) for s in sizes}
    else:
        shapes = {args.packages * args.flows: (args.packages, args.flows)}
    reps = parse_reps(args.reps, list(shapes))
    tools = tuple(t for t in args.tools.split(",") if t)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="flowfleet-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"work dir {workdir}; sizes {list(shapes)}; reps {reps}; db {args.db}")

    started = datetime.now(UTC)
    results: dict = {
        "command": "uv run python bench/fleet.py " + " ".join(argv or sys.argv[1:]),
        "started": started.isoformat(timespec="seconds"),
        "flowfleet_commit": git_head(),
        "db": args.db,
        "services": args.services,
        "machine": machine(),
        "tools": list(tools),
        "sizes": {},
        "calls": None,
        "imports": None,
        "notes": [
            "Bytecode: the synthetic workspace is installed with `uv sync --compile-bytecode` "
            "and every measured process runs without PYTHONDONTWRITEBYTECODE, as on a normal "
            "install after first use (this machine sets PYTHONDONTWRITEBYTECODE=1, which "
            "alone adds seconds of compiling to every process; see the import table)."
        ],
    }
    out = args.out or RESULTS / f"fleet-{args.db}-{started:%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        out.write_text(json.dumps(results, indent=1, default=str) + "\n")
        if not args.no_report:
            report.write(results, out)

    count_shape = None
    if args.count_size:
        count_shape = (max(1, args.count_size // args.flows), min(args.flows, args.count_size))
    todo = dict(shapes)
    if count_shape and count_shape[0] * count_shape[1] not in todo:
        todo[count_shape[0] * count_shape[1]] = count_shape

    for size, (packages, flows) in sorted(todo.items()):
        fleet = workspace_gen.generate(workdir / f"fleet-{size}", packages, flows, log=log)
        results["machine"]["prefect"] = prefect_version(fleet.python)
        server = BenchServer(fleet.root / "state", args.db, log=log, services=args.services == "on")
        server.start()
        workspace_gen.write_env(fleet.root, server.api_url)
        runner = Runner(fleet, server.api_url)
        try:
            if size in shapes:
                rows: list[dict] = []
                floors: list[dict] = []
                results["sizes"][str(size)] = {
                    "packages": packages,
                    "flows": flows,
                    "reps": reps[size],
                    "runs": rows,
                    "floor": floors,
                }
                for rep in range(reps[size]):
                    order = tools if rep % 2 == 0 else tuple(reversed(tools))
                    log(f"size {size}: rep {rep + 1}/{reps[size]} ({' then '.join(order)})")
                    for tool in order:
                        rows.extend(
                            guarded(
                                results,
                                measure_tool,
                                tool,
                                fleet,
                                server,
                                runner,
                                rep,
                                not args.no_changes,
                            )
                        )
                        save()
                    if not args.no_floor:
                        floors.extend(guarded(results, measure_floor, fleet, server, runner, rep))
                        save()
            if count_shape and size == count_shape[0] * count_shape[1]:
                log(f"counting API calls at {size} deployments")
                results["calls"] = {
                    "deployments": size,
                    "by_scenario": count_calls(fleet, server, runner, tools),
                }
                save()
            if not args.no_imports and size == max(shapes):
                log("import times")
                imports = guarded(results, import_times, fleet)
                results["imports"] = imports[0] if imports else None
                save()
        finally:
            server.stop()
    save()
    log(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
