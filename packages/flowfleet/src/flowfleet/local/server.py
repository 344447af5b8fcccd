"""`make server`: a Prefect server on 127.0.0.1:PORT, reused when one is already healthy there."""

from __future__ import annotations

import time
from pathlib import Path

from flowfleet import devserver
from flowfleet.local import pidfile
from flowfleet.local.errors import StepFailed
from flowfleet.local.progress import Waiting
from flowfleet.local.state import StateDir, local_api_url

NAME = "server"


def ensure_server(state: StateDir, port: int, *, ui: bool = True, timeout: float = 120) -> str:
    """Return the API URL of a healthy server on `port`, starting one if none answers there."""
    api_url = local_api_url(port)
    pid_path = state.pidfile(NAME)
    ours = pidfile.read(pid_path)
    if ours and ours.meta.get("port") != port:
        raise StepFailed(
            f"the server started earlier from {state.root} still runs on port "
            f"{ours.meta.get('port')} (pid {ours.pid}); run `make down` first",
            state.log(NAME),
        )
    if devserver.is_healthy(api_url):
        whose = f"started earlier, pid {ours.pid}" if ours else "not started here; left alone"
        print(f"  reusing the Prefect server at {api_url} ({whose})")
        return api_url
    if ours:  # ours, still starting (or hung): wait for it rather than start another
        server = devserver.LocalServer(port, state.home)
    elif devserver.port_in_use(port):
        raise StepFailed(
            f"port {port} is in use by something that is not a healthy Prefect server; "
            f"stop it or pick another port, e.g. `make demo PORT={devserver.free_port()}`"
        )
    else:
        server = devserver.launch_server(state.home, port, ui=ui)
        assert server.process is not None
        pidfile.write(
            pid_path,
            pidfile.Record(
                NAME,
                server.process.pid,
                list(server.process.args),
                str(server.log_path),
                {"port": port, "api_url": api_url},
            ),
        )
    _wait(server, ours, timeout, pid_path)
    return api_url


def _wait(
    server: devserver.LocalServer, earlier: pidfile.Record | None, timeout: float, pid_path: Path
) -> None:
    waiting = Waiting(f"starting the Prefect server on port {server.port} (log: {server.log_path})")
    if earlier is None:  # our child: devserver waits, and stops it if it never gets healthy
        try:
            devserver.wait_until_healthy(server, timeout, on_wait=lambda _: waiting.tick())
        except devserver.ServerStartError as exc:
            pid_path.unlink(missing_ok=True)
            raise StepFailed(exc.reason, exc.log_path) from None
        except BaseException:
            pid_path.unlink(missing_ok=True)  # interrupted: wait_until_healthy stopped it
            raise
        waiting.done("healthy")
        return
    while waiting.elapsed < timeout:  # started by an earlier command: poll health only
        if devserver.is_healthy(server.api_url):
            waiting.done("healthy")
            return
        if not earlier.running():
            pid_path.unlink(missing_ok=True)
            raise StepFailed("the Prefect server exited early", server.log_path)
        waiting.tick()
        time.sleep(0.5)
    raise StepFailed(f"the Prefect server was not healthy after {timeout:.0f}s", server.log_path)
