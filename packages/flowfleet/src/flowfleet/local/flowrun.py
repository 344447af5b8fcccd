"""Run one deployment now and wait for its final state, showing each state as it comes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowfleet.client import ApiClient
from flowfleet.local.errors import StepFailed
from flowfleet.local.progress import Waiting
from flowfleet.problems import FlowfleetError
from flowfleet.runs import follow, start_run


async def run_deployment(
    api_url: str,
    full_name: str,
    parameters: dict[str, Any],
    *,
    timeout: float = 300,
    poll: float = 1.0,
    check: Callable[[], None] = lambda: None,
    log_hint: Any = None,
) -> Any:
    """Create a flow run of `full_name` with `parameters` and return it once final.

    `check()` runs on every poll and may raise (for example when the worker died).
    """
    async with ApiClient(api_url) as client:
        try:
            run = await start_run(client, full_name, parameters)
        except FlowfleetError as exc:
            raise StepFailed(str(exc)) from None
        waiting = Waiting(f"flow run {run.name} of {full_name}")
        final = await follow(
            client, run, timeout=timeout, poll=poll, on_state=waiting.tick, check=check
        )
        if final is not None:
            waiting.done(final.state.name)
            return final
        raise StepFailed(
            f"flow run {run.name} of {full_name} did not finish in {timeout:.0f}s", log_hint
        )
