"""The peak memory of a command and every process it starts, summed while they run.

`/usr/bin/time -f %M` reports the largest single process of the tree, so a command that
hands work to worker processes (flowfleet's prewarm) would look smaller than it is.
This samples the resident set of the whole tree every `interval` seconds from /proc.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found.setdefault(parent, []).append(int(entry.name))
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(root: int, *, without_root: bool = False) -> int:
    """The resident sets of `root` and its descendants, summed (`root` left out if asked:
    a `/usr/bin/time` wrapper is not the command)."""
    children, total, todo = _children(), 0, [root]
    if without_root:
        todo = children.get(root, [])
    while todo:
        pid = todo.pop()
        total += _rss_kb(pid)
        todo.extend(children.get(pid, []))
    return total


class TreePeak:
    """Samples `process`'s tree on a thread until it exits; `peak_mb` is the largest sum."""

    def __init__(self, process: subprocess.Popen, *, wrapped: bool, interval: float = 0.1):
        self.peak_kb = 0
        self._wrapped = wrapped
        self._process = process
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(self._interval) and self._process.poll() is None:
            now = tree_rss_kb(self._process.pid, without_root=self._wrapped)
            self.peak_kb = max(self.peak_kb, now)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return round(self.peak_kb / 1024, 1)
