"""One Prefect client per command, pointed at the environment's API.

The API key comes only from the process environment (PREFECT_API_KEY) and is
never printed or written anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from flowfleet.environments import Environment
from flowfleet.problems import FlowfleetError, Problem


def api_url_for(environment: Environment) -> str:
    url = environment.effective_api_url()
    if not url:
        raise FlowfleetError(
            Problem(
                f"no Prefect API URL for environment '{environment.name}'",
                fix=f"set PREFECT_API_URL or api_url in infra/environments/{environment.name}.toml",
            )
        )
    return url.rstrip("/")


# A SQLite-backed server answers 503 for as long as another writer (its own scheduler,
# after a large deploy) holds the database lock. flowfleet's writes are idempotent
# upserts and deletes, so they wait out more of that than Prefect's default of 5 retries
# (about a minute): 7 retries back off for about four minutes before giving up.
WRITE_RETRIES = 7


@contextlib.asynccontextmanager
async def prefect_client(api_url: str) -> AsyncIterator[Any]:
    """Prefect's client for writes, patient with a busy server unless the user set
    PREFECT_CLIENT_MAX_RETRIES themselves."""
    from prefect.client.orchestration import PrefectClient
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    patience = (
        contextlib.nullcontext()
        if "PREFECT_CLIENT_MAX_RETRIES" in os.environ
        else temporary_settings({PREFECT_CLIENT_MAX_RETRIES: WRITE_RETRIES})
    )
    with patience:
        async with PrefectClient(api=api_url, api_key=os.environ.get("PREFECT_API_KEY")) as client:
            yield client


class HttpReader:
    """Plain-HTTP reads for planning, with the same credentials as Prefect's client.

    `import prefect` costs seconds; a plan that finds nothing to change need not
    pay it. Reads are idempotent, so connection errors, 429 and 5xx are retried.
    """

    RETRIES = 4  # attempts; PREFECT_CLIENT_MAX_RETRIES (retries after the first) wins
    TIMEOUT = 30.0  # seconds per request; PREFECT_API_REQUEST_TIMEOUT wins

    def __init__(self, api_url: str):
        import httpx

        retries = os.environ.get("PREFECT_CLIENT_MAX_RETRIES")
        self.attempts = 1 + int(retries) if retries and retries.isdigit() else self.RETRIES
        timeout = float(os.environ.get("PREFECT_API_REQUEST_TIMEOUT") or self.TIMEOUT)

        headers = {}
        if key := os.environ.get("PREFECT_API_KEY"):
            headers["Authorization"] = f"Bearer {key}"
        elif auth := os.environ.get("PREFECT_API_AUTH_STRING"):
            headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        self._client = httpx.AsyncClient(
            base_url=api_url,
            headers=headers,
            # A stalled server costs at most `timeout` per attempt, never forever.
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )

    async def __aenter__(self) -> HttpReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                response = await self._client.request(method, path, **kwargs)
            except httpx.TransportError:
                if last:
                    raise
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return response
            await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")


RETRY_STATUSES = {429, 502, 503, 504}
