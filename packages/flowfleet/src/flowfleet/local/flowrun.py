"""Run one deployment now and wait for its final state, showing each state as it comes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from flowfleet.client import prefect_client
from flowfleet.local.errors import StepFailed
from flowfleet.local.progress import Waiting


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
    async with prefect_client(api_url) as client:
        try:
            deployment = await client.read_deployment_by_name(full_name)
        except Exception as exc:
            raise StepFailed(f"deployment {full_name} not found on {api_url}: {exc}") from None
        run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        waiting = Waiting(f"flow run {run.name} of {full_name}")
        while waiting.elapsed < timeout:
            run = await client.read_flow_run(run.id)
            state = run.state
            if state is not None and state.is_final():
                waiting.done(state.name)
                return run
            waiting.tick(state.name if state else "creating")
            check()
            await asyncio.sleep(poll)
        state_name = run.state.name if run.state else "unknown"
        raise StepFailed(
            f"flow run {run.name} of {full_name} did not finish in {timeout:.0f}s "
            f"(state: {state_name})",
            log_hint,
        )
