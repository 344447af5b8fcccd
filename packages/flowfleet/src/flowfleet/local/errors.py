"""The one failure the local commands report: which step failed, why, and where its log is."""

from __future__ import annotations

from pathlib import Path


class StepFailed(Exception):
    def __init__(self, reason: str, log: Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.log = log

    def line(self, step: str) -> str:
        where = f" (log: {self.log})" if self.log else ""
        return f"{step} failed: {self.reason}{where}"
