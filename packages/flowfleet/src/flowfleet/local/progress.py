"""Visible progress while waiting: a line redrawn on a terminal, a line every few seconds in CI."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Waiting:
    """`Waiting("waiting for the server")`, then `.tick(status)` while waiting, `.done(...)`."""

    def __init__(self, label: str, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.label = label
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.every = every
        self.started = time.monotonic()
        self._last_status: str | None = None
        self._last_print = float("-inf")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def tick(self, status: str = "") -> None:
        now = time.monotonic()
        line = f"  {self.label}{': ' + status if status else ''} ({self.elapsed:.0f}s)"
        if self.tty:
            self.stream.write(f"\r\033[K{line}")
        elif status != self._last_status or now - self._last_print >= self.every:
            self.stream.write(line + "\n")
        else:
            return
        self.stream.flush()
        self._last_status, self._last_print = status, now

    def done(self, status: str) -> None:
        line = f"  {self.label}: {status} ({self.elapsed:.1f}s)"
        self.stream.write(f"\r\033[K{line}\n" if self.tty else line + "\n")
        self.stream.flush()
