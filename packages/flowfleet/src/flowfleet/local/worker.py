"""`make worker`: a Prefect process worker on one pool, in the workspace's own Python.

It runs with this interpreter (the workspace venv), so every flow package imports in the
flow-run processes it starts.
"""

from __future__ import annotations

import sys

from flowfleet.local import pidfile
from flowfleet.local.errors import StepFailed
from flowfleet.local.state import StateDir


def worker_name(pool: str) -> str:
    return f"worker-{pool}"


def ensure_worker(state: StateDir, api_url: str, pool: str) -> pidfile.Record:
    """Start a process worker for `pool` unless ours already serves it from `api_url`."""
    name = worker_name(pool)
    pid_path = state.pidfile(name)
    ours = pidfile.read(pid_path)
    if ours and ours.meta.get("api_url") == api_url:
        print(f"  reusing the worker on pool '{pool}' (pid {ours.pid}, log: {ours.log})")
        return ours
    if ours:  # ours, but pointed at another server: replace it
        pidfile.stop(pid_path)
    command = [sys.executable, "-m", "prefect", "worker", "start"]
    command += ["--pool", pool, "--type", "process", "--name", f"flowfleet-{pool}"]
    env = state.prefect_env(api_url, PREFECT_WORKER_QUERY_SECONDS="2")
    record = pidfile.spawn(
        name, command, pid_path, state.log(name), env, api_url=api_url, pool=pool
    )
    print(f"  started a process worker on pool '{pool}' (pid {record.pid}, log: {record.log})")
    return record


def check_alive(record: pidfile.Record) -> None:
    if not record.running():
        raise StepFailed(f"the worker (pid {record.pid}) exited", record.log)
