"""PID files for the processes the local commands start, and stopping exactly those.

Each file records the PID and the exact command line. A process counts as ours only while
that PID is alive with that same command line, so a stale file (the process died, or its PID
was reused by something else) is never acted on: it is removed. Every process is started in
its own session, so its PID is also its process-group ID and stopping it stops its children.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Record:
    name: str
    pid: int
    command: list[str]
    log: str
    meta: dict[str, Any] = field(default_factory=dict)

    def running(self) -> bool:
        """Alive (not a zombie) and still running the command we started."""
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return _command_line(self.pid) == " ".join(self.command)


def spawn(
    name: str,
    command: list[str],
    pidfile: Path,
    log: Path,
    env: dict[str, str],
    cwd: Path | None = None,
    **meta: Any,
) -> Record:
    """Start `command` in the background, in a new session, output appended to `log`."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    record = Record(name, process.pid, command, str(log), meta)
    write(pidfile, record)
    return record


def write(pidfile: Path, record: Record) -> None:
    pidfile.write_text(json.dumps(asdict(record), indent=2) + "\n")


def read(pidfile: Path) -> Record | None:
    """The record of a process that is still ours and running; a stale file is removed."""
    try:
        record = Record(**json.loads(pidfile.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        pidfile.unlink(missing_ok=True)
        return None
    if not record.running():
        pidfile.unlink(missing_ok=True)
        return None
    return record


def stop(pidfile: Path, timeout: float = 30) -> str:
    """Stop the process a PID file names (its process group), then remove the file.

    A Prefect worker shuts down gracefully on SIGTERM, which took over 15 s on a busy
    2-core machine; only after `timeout` is the group killed.
    """
    try:
        raw = json.loads(pidfile.read_text())
        record = Record(**raw)
    except FileNotFoundError:
        return "not running"
    except (OSError, ValueError, TypeError):
        pidfile.unlink(missing_ok=True)
        return "unreadable PID file removed"
    if not record.running():
        pidfile.unlink(missing_ok=True)
        return f"not running (stale PID file for pid {record.pid} removed)"
    _signal(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while record.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    status = f"stopped (pid {record.pid})"
    if record.running():
        _signal(record.pid, signal.SIGKILL)
        status = f"killed after {timeout:.0f}s (pid {record.pid})"
    pidfile.unlink(missing_ok=True)
    return status


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the process group `pid` leads; just the process if it leads none."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _command_line(pid: int) -> str | None:
    """The command line of `pid`, its arguments joined by spaces; None if gone or a zombie."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self/cmdline").exists():
        try:
            return " ".join(proc.read_bytes().decode(errors="replace").split("\0")[:-1]) or None
        except OSError:
            return None
    # No /proc (macOS): ask ps.
    result = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
    return result.stdout.strip() or None
