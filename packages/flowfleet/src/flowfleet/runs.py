"""Start a flow run of a deployment and follow it to a final state, over flowfleet's client.

Used by `flowfleet run` and by `make demo`. Prefect's schemas build the request
body and read the answers (`FlowRun`, with its `state.is_completed()`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flowfleet.client import send_write
from flowfleet.problems import FlowfleetError


async def start_run(client: Any, full_name: str, parameters: dict[str, Any]) -> Any:
    """Create a flow run of `full_name` (`flow/deployment`) with `parameters`."""
    from prefect.client.schemas.actions import DeploymentFlowRunCreate
    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Scheduled, to_state_create

    flow, _, name = full_name.partition("/")
    path = f"/deployments/name/{quote(flow, safe='')}/{quote(name, safe='')}"
    found = await client.request("GET", path)
    if found.status_code == 404:
        raise FlowfleetError(f"deployment {full_name} not found on {client.api_url}")
    found.raise_for_status()
    body = DeploymentFlowRunCreate(parameters=parameters, state=to_state_create(Scheduled()))
    created = await send_write(
        client,
        "POST",
        f"/deployments/{found.json()['id']}/create_flow_run",
        json=body.model_dump(mode="json", exclude_unset=True),
    )
    return FlowRun.model_validate(created.json())


async def follow(
    client: Any,
    run: Any,
    *,
    timeout: float,
    poll: float = 1.0,
    on_state: Callable[[str], None] = lambda _: None,
    check: Callable[[], None] = lambda: None,
) -> Any:
    """Poll `run` until its state is final and return it; None after `timeout` seconds.

    `on_state` hears each new state name; `check()` runs on every poll and may raise
    (for example when the worker died).
    """
    from prefect.client.schemas.objects import FlowRun

    started = time.monotonic()
    seen = None
    while time.monotonic() - started < timeout:
        response = await client.send("GET", f"/flow_runs/{run.id}")
        run = FlowRun.model_validate(response.json())
        name = run.state.name if run.state else "Pending"
        if name != seen:
            on_state(name)
            seen = name
        if run.state is not None and run.state.is_final():
            return run
        check()
        await asyncio.sleep(poll)
    return None
