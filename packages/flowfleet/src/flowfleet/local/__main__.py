"""`python -m flowfleet.local demo|server|worker|down`: what the Makefile's targets run.

Failures print one line naming the step and its log, and exit 1; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from flowfleet.local.errors import StepFailed
from flowfleet.local.state import StateDir, local_api_url, ui_url
from flowfleet.local.steps import Failed
from flowfleet.problems import FlowfleetError


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flowfleet.local")
    parser.add_argument("--state", default=".state", help="folder for PID files, logs, the DB")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 4200)))
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="server, pools, deploy, worker and a sales ETL run")
    demo.add_argument("--output-dir", default="output", help="where the ETL writes its file")
    demo.add_argument("--run-timeout", type=float, default=300)
    commands.add_parser("server", help="start the server in the background (or reuse it)")
    worker = commands.add_parser("worker", help="start a process worker in the background")
    worker.add_argument("--env", default="local")
    worker.add_argument("--pool", help="default: the environment's single_pool")
    commands.add_parser("down", help="stop what the other commands started")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    state = StateDir.at(args.state)
    started = time.monotonic()
    try:
        if args.command == "demo":
            from flowfleet.local.demo import demo

            demo(state, args.port, Path(args.output_dir), run_timeout=args.run_timeout)
            print(f"demo done in {time.monotonic() - started:.0f}s")
        elif args.command == "server":
            server(state, args.port)
        elif args.command == "worker":
            worker(state, args.port, args.env, args.pool)
        else:
            down(state)
    except Failed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StepFailed as exc:
        print(f"error: {exc.line(args.command)}", file=sys.stderr)
        return 1
    except FlowfleetError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted; `make down` stops what was started ({state.root})", file=sys.stderr)
        return 130
    return 0


def server(state: StateDir, port: int) -> None:
    from flowfleet.local.server import ensure_server

    ensure_server(state, port)
    print(f"Prefect server: {local_api_url(port)}  UI: {ui_url(port)}  (stop: make down)")


def worker(state: StateDir, port: int, env: str, pool: str | None) -> None:
    from flowfleet.devserver import is_healthy
    from flowfleet.local.worker import ensure_worker
    from flowfleet.session import Session

    environment = Session().environment(env)
    pool = pool or environment.single_pool
    if not pool:
        raise StepFailed(f"environment '{env}' has no single_pool; name one with POOL=<pool>")
    if env == "local":
        api_url = local_api_url(port)
        if not is_healthy(api_url):
            raise StepFailed(
                f"no Prefect server answers at {api_url}; start one with `make server`"
            )
    else:
        from flowfleet.connection import api_url_for

        api_url = api_url_for(environment)
    ensure_worker(state, api_url, pool)


def down(state: StateDir) -> None:
    from flowfleet.local import pidfile

    files = state.pidfiles()
    if not files:
        print(f"nothing to stop (no PID files in {state.root})")
    # Workers first, so none is left polling a stopped server.
    for path in sorted(files, key=lambda p: p.stem == "server"):
        print(f"{path.stem}: {pidfile.stop(path)}")


if __name__ == "__main__":
    sys.exit(main())
