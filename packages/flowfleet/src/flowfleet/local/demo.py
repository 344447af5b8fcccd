"""`make demo`: server, pools, worker, every deployment, then one real run of the sales ETL.

Safe to run again: a healthy server and our running worker are reused, the deploy changes
nothing that is already there, and each run writes a fresh output file.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from flowfleet.local.errors import StepFailed
from flowfleet.local.server import ensure_server
from flowfleet.local.state import StateDir, ui_url
from flowfleet.local.steps import Steps

ENV = "local"
DEPLOYMENT = "sales-etl/default"
OUTPUT_FILE = "active_customers.json"


def demo(state: StateDir, port: int, output_dir: Path, *, run_timeout: float = 300) -> dict:
    """Run every step; raise `steps.Failed` (one line) when one fails. Returns the summary."""
    steps = Steps(6, state.log("demo"))
    with steps.step(f"Prefect server on port {port}"):
        api_url = ensure_server(state, port)
    # From here on this process talks to that server, with its settings kept in the state folder.
    os.environ.update(state.prefect_env(api_url))

    from flowfleet.engine import Target
    from flowfleet.local import fleet
    from flowfleet.local.flowrun import run_deployment
    from flowfleet.local.worker import check_alive, ensure_worker

    with steps.step(f"work pools of environment '{ENV}'"):
        target = Target.load(ENV)
        fleet.create_pools(target)
    with steps.step("process worker"):
        pool = _pool_of(target, DEPLOYMENT)
        worker = ensure_worker(state, api_url, pool)
    with steps.step(f"deploy every package to '{ENV}'"):
        fleet.deploy(target)
    output = (output_dir / OUTPUT_FILE).resolve()
    output.unlink(missing_ok=True)
    with steps.step(f"run {DEPLOYMENT} on the bundled sample data"):
        run = asyncio.run(
            run_deployment(
                api_url,
                DEPLOYMENT,
                {"output_path": str(output)},
                timeout=run_timeout,
                check=lambda: check_alive(worker),
                log_hint=Path(worker.log),
            )
        )
        if not run.state.is_completed():
            message = (run.state.message or "").strip().splitlines()
            detail = f": {message[0]}" if message else ""
            raise StepFailed(
                f"flow run {run.name} ended {run.state.name}{detail}", Path(worker.log)
            )
    with steps.step("result"):
        summary = _summary(output, port, run.name)
        print(
            f"  kept {summary['kept']} of {summary['total']} customer records, "
            f"written to {summary['output_path']}"
        )
        print(f"  deployments: {summary['ui']}")
        print("  stop the server and worker with `make down`")
    return summary


def _pool_of(target, full_name: str) -> str:
    for deployment in target.desired:
        if deployment.full_name == full_name:
            return deployment.work_pool
    raise StepFailed(f"no deployment {full_name} in environment '{target.environment.name}'")


def _summary(output: Path, port: int, run_name: str) -> dict:
    from sales_flows.etl import SAMPLE_DATA

    try:
        kept = json.loads(output.read_text())
    except (OSError, ValueError) as exc:
        raise StepFailed(f"the run completed but {output} is unreadable: {exc}") from None
    return {
        "kept": len(kept),
        "total": len(json.loads(Path(SAMPLE_DATA).read_text())),
        "output_path": str(output),
        "flow_run": run_name,
        "ui": f"{ui_url(port)}/deployments",
    }
