"""The one HTTP client for every call flowfleet makes to a Prefect API.

Reads, writes, work pools, branch cleanup, prune, runs and the demo all go through
`ApiClient`: one retry policy (flowfleet.retry), one way to authenticate, one CSRF
handshake. Prefect's schemas may build request bodies; Prefect's client sends nothing.

Which server, and with which credentials: flowfleet.connection.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from flowfleet.connection import Connection
from flowfleet.retry import RETRY_STATUSES


class ApiClient:
    """Plain HTTP to the Prefect API: no `import prefect` for a plan that changes nothing.

    `request` retries by `RetryPolicy` and returns the last answer (the caller
    raises on error statuses); a server that cannot be reached raises
    `httpx.TransportError` after its tries. Anything but a GET (Prefect's filter
    reads are POSTs) carries Prefect's CSRF headers when the server asks for them.
    """

    def __init__(self, connection: Connection | str, *, httpx_settings: dict | None = None):
        import httpx

        if isinstance(connection, str):
            connection = Connection.to(connection)
        self.connection = connection
        self.api_url = connection.url
        headers = dict(connection.headers)
        if connection.auth_header:
            headers["Authorization"] = connection.auth_header
        self._client = httpx.AsyncClient(
            base_url=connection.url,
            headers=headers,
            verify=connection.verify,
            # A stalled server costs at most `timeout` per attempt, never forever.
            timeout=httpx.Timeout(connection.timeout, connect=min(connection.timeout, 10.0)),
            **(httpx_settings or {}),
        )
        self._csrf: dict[str, str] | None = None if connection.csrf else {}
        self._csrf_id = str(uuid.uuid4())
        self._csrf_lock = asyncio.Lock()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request, retried while the server is busy, rate-limited or briefly away."""
        import httpx

        policy = self.connection.retry
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send(method, path, **kwargs)
            except httpx.TransportError:
                if (pause := policy.pause(attempt, started, None)) is None:
                    raise
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                if (pause := policy.pause(attempt, started, response)) is None:
                    return response
            await asyncio.sleep(pause)

    async def send(self, method: str, path: str, **kwargs: Any) -> Any:
        """`request`, raising `httpx.HTTPStatusError` on an error answer."""
        response = await self.request(method, path, **kwargs)
        response.raise_for_status()
        return response

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        if method.upper() == "GET":
            return await self._client.request(method, path, **kwargs)
        headers = await self._csrf_headers()
        response = await self._client.request(method, path, headers=headers, **kwargs)
        if response.status_code == 403 and "Invalid CSRF token" in response.text:
            self._csrf = None  # expired: renew once
            headers = await self._csrf_headers()
            response = await self._client.request(method, path, headers=headers, **kwargs)
        return response

    async def _csrf_headers(self) -> dict[str, str]:
        """Prefect's CSRF handshake (as `PrefectHttpxAsyncClient._add_csrf_headers`):
        a token per client id; none when the server has CSRF protection off."""
        async with self._csrf_lock:  # requests run at once: one handshake, not three
            if self._csrf is None:
                response = await self._client.get("/csrf-token", params={"client": self._csrf_id})
                if response.status_code == 200:
                    token = response.json()["token"]
                    self._csrf = {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": self._csrf_id}
                elif response.status_code == 404 or (
                    response.status_code == 422 and "CSRF protection is disabled" in response.text
                ):
                    self._csrf = {}  # the server wants none: never ask again
                else:
                    return {}  # busy, or the request's own 401: asked again next time
            return self._csrf


async def send_write(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    """One write through `client` (retried by its policy); raises on an error answer."""
    response = await client.request(method, path, **kwargs)
    response.raise_for_status()
    return response
