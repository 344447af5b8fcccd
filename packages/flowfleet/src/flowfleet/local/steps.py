"""Numbered steps: a header for each, and any failure turned into one line naming the step."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flowfleet.local.errors import StepFailed
from flowfleet.problems import FlowfleetError, one_line


class Failed(Exception):
    """A step failed; `str()` is the one line to print."""

    def __init__(self, step: str, cause: StepFailed) -> None:
        super().__init__(cause.line(step))


class Steps:
    def __init__(self, total: int, debug_log: Path) -> None:
        self.total = total
        self.number = 0
        self.debug_log = debug_log

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.number += 1
        print(f"[{self.number}/{self.total}] {title}", flush=True)
        try:
            yield
        except StepFailed as exc:
            raise Failed(title, exc) from None
        except FlowfleetError as exc:
            raise Failed(title, StepFailed("; ".join(str(p) for p in exc.problems))) from None
        except Exception as exc:  # unexpected: the traceback goes to the log, not the terminal
            with self.debug_log.open("a") as log:
                log.write(f"--- step '{title}' ---\n{traceback.format_exc()}\n")
            reason = one_line(f"{type(exc).__name__}: {exc}")
            raise Failed(title, StepFailed(reason, self.debug_log)) from None
