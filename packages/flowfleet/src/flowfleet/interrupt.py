"""What an interrupted deploy did and did not do, so Ctrl-C is never a silent exit.

The deploy command feeds `ApplyLog` the plan it is about to apply and each outcome
as it lands. On Ctrl-C the log says how many changes were applied, names them and
the ones that were not, and the command exits 130 (128 + SIGINT, as shells do).
A write in flight when the signal came may or may not have reached the server;
the next `plan` shows exactly what is left either way, since every write is an
upsert or a delete.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from flowfleet.apply import PAST_TENSE, Outcome
from flowfleet.plan import Plan

EXIT_CODE = 130
SHOWN = 10  # names listed per line before "and N more"


class ApplyLog:
    """The plan being applied and the outcomes so far; forwards each to `forward`."""

    def __init__(self, forward: Callable[[Outcome], None] | None = None) -> None:
        self.forward = forward
        self.plan: Plan | None = None
        self.outcomes: list[Outcome] = []

    def planned(self, plan: Plan) -> None:
        self.plan = plan

    def __call__(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self.forward:
            self.forward(outcome)

    @contextlib.contextmanager
    def on_ctrl_c(self) -> Iterator[None]:
        """Ctrl-C inside: print the summary on stderr and exit 130, no traceback."""
        try:
            yield
        except KeyboardInterrupt:
            for line in self.summary():
                print(line, file=sys.stderr, flush=True)
            raise SystemExit(EXIT_CODE) from None

    def summary(self) -> list[str]:
        """The lines printed on Ctrl-C."""
        if self.plan is None:
            return ["interrupted before anything was written: the server is as it was"]
        changes = self.plan.create + self.plan.update + self.plan.delete
        applied = [o for o in self.outcomes if o.status in PAST_TENSE.values()]
        finished = {o.full_name for o in self.outcomes}
        pending = [c.full_name for c in changes if c.full_name not in finished]
        failed = [o.full_name for o in self.outcomes if o.status == "failed"]
        lines = [
            f"interrupted: applied {len(applied)} of {len(changes)} changes, "
            f"{len(pending)} not applied" + (f", {len(failed)} failed" if failed else "")
        ]
        if applied:
            lines.append("applied: " + names([f"{o.status} {o.full_name}" for o in applied]))
        if failed:
            lines.append("failed: " + names(failed))
        if pending:
            lines.append("not applied: " + names(pending))
            lines.append(
                "a write in flight may have landed; `plan` shows what is left, "
                "and running the same deploy again finishes it"
            )
        return lines


def names(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    more = len(items) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
