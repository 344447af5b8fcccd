"""Where a command's CPU goes, by kind of process: `python bench/suite_cpu.py -- make test`.

The test suite starts hundreds of processes (Prefect servers, workers, flow runs, CLI
runs), most living a second or two, so a profiler on pytest sees little of it. This
samples /proc every 0.2 s, keeps each process's last CPU time (user + system), and
groups processes by their command line. It counts every process on the machine (a
PostgreSQL started by `pg_ctl` is no child of the suite), so run it on a quiet machine.
Processes that live less than one sample are missed; CPU spent before the command
started is left out.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter

TICKS = os.sysconf("SC_CLK_TCK")

KINDS = (  # first match wins: (kind, any of these in the command line)
    ("Prefect server", ("server start",)),
    ("Prefect worker", ("worker start",)),
    ("flow run", ("prefect.runner", "prefect.engine", "prefect.flow_engine")),
    ("flowfleet CLI", ("-m flowfleet", "bin/flowfleet", "cli_in_group.py", "cli_zygote.py")),
    ("pytest worker", ("exec(eval(sys.stdin.readline()))", "-m pytest", "bin/pytest")),
    ("PostgreSQL", ("postgres",)),
    ("uv", ("uv ", "/uv")),
    ("git", ("git",)),
)


def kind_of(command: str) -> str:
    for kind, needles in KINDS:
        if any(needle in command for needle in needles):
            return kind
    return "other python" if "python" in command else "other"


def sample(seen: dict[str, list], first: bool) -> None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        key = f"{entry}:{fields[19]}"  # pid and start time: pids are reused
        if key not in seen:
            seen[key] = [command, cpu if first else 0.0, cpu]
        else:
            seen[key][2] = cpu
            seen[key][0] = seen[key][0] or command  # a zombie has no command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    seen: dict[str, list] = {}
    sample(seen, first=True)
    started = time.perf_counter()
    process = subprocess.Popen(args.command)
    while process.poll() is None:
        time.sleep(0.2)
        sample(seen, first=False)
    wall = time.perf_counter() - started
    totals: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for command, before, after in seen.values():
        if after > before and command:
            kind = kind_of(command)
            totals[kind] += after - before
            counts[kind] += 1
    cpu = sum(totals.values())
    print(f"\n{args.command!r}: exit {process.returncode}, {wall:.0f} s wall, {cpu:.0f} s CPU")
    for kind, seconds in totals.most_common():
        print(f"{seconds:8.1f} s {100 * seconds / cpu:5.1f} %  {counts[kind]:5d} processes  {kind}")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
