"""CLI runs forked from one warm interpreter: a process each, without `import prefect` each.

Why: the suite runs the CLI in a subprocess about 300 times, and each run paid an
interpreter start and `import prefect` (1.2 s of CPU of a 1.4 s run, measured): close to
half of the suite's CPU. A zygote process per pytest worker imports Prefect's heavy,
environment-free modules once and forks a child per run. The child is a real, separate
process: its own environment, working directory, `sys.path`, stdin, stdout, stderr and
exit status, as `subprocess.run` would give it. Before the command runs it rebuilds
Prefect's settings and logging from the child's environment
(`refresh_global_settings_context`, `setup_logging`); flowfleet itself is imported in the
child, so module-level reads of the environment see the run's.

`FLOWFLEET_TEST_FORK=0` runs every command with `subprocess.run` instead. Commands that
need a terminal's signal handling (Ctrl-C tests) keep `subprocess.Popen`.

Run directly (`python cli_zygote.py SOCKET`) this module is the zygote.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# Imported once in the zygote: heavy, and read no environment at import that the child
# does not refresh. flowfleet is not here: it is the code under test.
PRELOAD = (
    "prefect",
    "prefect.client.orchestration",
    "prefect.client.schemas.actions",
    "prefect.client.schemas.filters",
    "prefect.deployments",
    "prefect.flows",
    "pydantic",
    "pydantic_settings",
    "typer",
    "rich.console",
    "rich.table",
    "httpx",
    "pluggy",
)
# The workers whose stock job templates `validate`, `plan`, `deploy` and `pools` check
# against: importing prefect-aws and prefect-kubernetes took 1.4 s of a 2.5 s cold
# `validate` of the example fleet. Six CLI-heavy files used 46 s of CPU with these
# preloaded, against 51 s without. Skipped when not installed, as in the code under test.
PRELOAD_IF_INSTALLED = (
    "prefect.workers.process",
    "prefect_aws.workers.ecs_worker",
    "prefect_kubernetes.worker",
    "prefect_docker.worker",
)


# --- the test side -----------------------------------------------------------------


class Zygote:
    """One zygote process for this pytest worker, started on first use, stopped at exit."""

    _lock = threading.Lock()
    _instance: Zygote | None = None

    def __init__(self) -> None:
        # A unix socket's path holds at most 107 bytes: a long TMPDIR would not fit.
        scratch = tempfile.gettempdir()
        scratch = scratch if len(scratch) < 64 else "/tmp"
        self.folder = Path(tempfile.mkdtemp(prefix="ffz-", dir=scratch))
        self.socket_path = self.folder / "s"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.pop("PYTHONPATH", None)
        env["PREFECT_HOME"] = str(self.folder / "prefect-home")
        with open(self.folder / "zygote.log", "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, str(self.socket_path)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        atexit.register(self.stop)

    @classmethod
    def get(cls) -> Zygote:
        with cls._lock:
            if cls._instance is None or cls._instance.process.poll() is not None:
                cls._instance = Zygote()
            return cls._instance

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def connect(self, timeout: float) -> socket.socket:
        """The zygote listens once its imports are done; wait for that."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = (self.folder / "zygote.log").read_text()
                raise RuntimeError(f"the CLI zygote exited: {log[-2000:]}")
            try:
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.connect(str(self.socket_path))
                return conn
            except (FileNotFoundError, ConnectionRefusedError):
                conn.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | str,
        input: str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory(prefix="ffz-run-") as scratch:
            files = {name: Path(scratch) / name for name in ("stdin", "stdout", "stderr")}
            for name, path in files.items():
                path.write_text(input or "" if name == "stdin" else "")
            request = {
                "argv": argv,
                "env": dict(os.environ if env is None else env),
                "cwd": str(Path(cwd).resolve()),
                **{name: str(path) for name, path in files.items()},
            }
            conn = self.connect(timeout=120)
            with conn, conn.makefile("rwb") as stream:
                stream.write(json.dumps(request).encode() + b"\n")
                stream.flush()
                conn.settimeout(timeout)
                pid = int(stream.readline().split()[1])
                try:
                    line = stream.readline()
                except TimeoutError:
                    _kill(pid)
                    raise subprocess.TimeoutExpired(
                        argv, timeout, _read(files["stdout"]), _read(files["stderr"])
                    ) from None
            code = int(line.split()[1]) if line.startswith(b"exit ") else -signal.SIGKILL
            return subprocess.CompletedProcess(
                [sys.executable, *argv], code, _read(files["stdout"]), _read(files["stderr"])
            )


def run(argv: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    """`subprocess.run([sys.executable, *argv], capture_output=True, text=True, **options)`,
    for the options `Zygote.run` takes: `cwd`, `env`, `input` and `timeout`."""
    if os.environ.get("FLOWFLEET_TEST_FORK", "1") == "0":
        options.setdefault("timeout", 300)
        return subprocess.run([sys.executable, *argv], capture_output=True, text=True, **options)
    return Zygote.get().run(argv, **options)


def _read(path: Path) -> str:
    with open(path, encoding=None, errors="replace") as handle:  # universal newlines
        return handle.read()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- the zygote side ---------------------------------------------------------------


def serve(socket_path: str) -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    for name in PRELOAD_IF_INSTALLED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    base_path = sys.path[1:]  # without this script's folder
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path + ".tmp")
    listener.listen(16)
    os.rename(socket_path + ".tmp", socket_path)
    parent = os.getppid()
    listener.settimeout(2)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:
                return  # the pytest worker is gone (even killed): no zygote left behind
            continue
        conn.settimeout(None)
        if os.fork() == 0:
            listener.close()
            _child(conn, base_path)  # never returns
        conn.close()


def _child(conn: socket.socket, base_path: list[str]) -> None:
    code = 1
    stream = conn.makefile("rwb")
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        request = json.loads(stream.readline())
        stream.write(f"pid {os.getpid()}\n".encode())
        stream.flush()
        _take_on(request)
        code = _run_command(request["argv"], base_path)
    finally:
        try:
            stream.write(f"exit {code}\n".encode())
            stream.flush()
        finally:
            os._exit(code)


def _take_on(request: dict) -> None:
    """The run's stdin, stdout, stderr, environment and working folder."""
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        opened = os.open(request[name], os.O_RDONLY if fd == 0 else os.O_WRONLY)
        os.dup2(opened, fd)
        os.close(opened)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])


def _run_command(argv: list[str], base_path: list[str]) -> int:
    """`python -m MODULE ARGS` or `python SCRIPT ARGS`, as the interpreter runs them."""
    import importlib
    import runpy

    module = argv[1] if argv[0] == "-m" else None
    first = os.getcwd() if module else str(Path(argv[0]).resolve().parent)
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [first, *extra, *base_path]
    importlib.invalidate_caches()

    from prefect.context import refresh_global_settings_context
    from prefect.logging.configuration import setup_logging

    refresh_global_settings_context()
    setup_logging(incremental=False)
    try:
        try:
            if module:
                sys.argv = ["-m", *argv[2:]]
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            else:
                sys.argv = list(argv)
                runpy.run_path(argv[0], run_name="__main__")
            code = 0
        except SystemExit as stop:
            code = _exit_code(stop.code)
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        threading._shutdown()  # as the interpreter does at exit: join non-daemon threads
        atexit._run_exitfuncs()
    finally:
        for handle in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                handle.flush()
    return code


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


if __name__ == "__main__":
    serve(sys.argv[1])
