"""One Prefect client per command, pointed at the environment's API.

The API key comes only from the process environment (PREFECT_API_KEY) and is
never printed or written anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
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


@contextlib.asynccontextmanager
async def prefect_client(api_url: str) -> AsyncIterator[Any]:
    """Prefect's client (work pools, branch cleanup, the demo's run), with its retries
    off: where it writes through `send_write`, that decides."""
    from prefect.client.orchestration import PrefectClient
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
        async with PrefectClient(api=api_url, api_key=os.environ.get("PREFECT_API_KEY")) as client:
            yield client


@dataclass(frozen=True)
class WritePatience:
    """How long an idempotent write keeps trying.

    A SQLite-backed server answers 503 the moment a write meets another writer's
    lock (often its own scheduler, filling runs for new deployments): busy for a
    moment, not gone. flowfleet's writes are upserts and deletes, safe to repeat, so
    a busy answer is retried for up to `busy_seconds`, where Prefect's client gives
    up after five tries (which once aborted a 1,000-deployment first deploy after
    523). The pause starts at `first_pause` and doubles, capped at 32 s, so a long
    outage is still backed off. Measured side by side, 200 new deployments on a
    fresh SQLite server: 76, 77, 69 and 71 s starting at 0.2 s, against 190 and
    177 s starting at 2 s as Prefect's client does (and 71 and 65 s at 0.05 s).
    A server that cannot be reached gets `unreachable_attempts` quick tries, then the
    run stops. PREFECT_CLIENT_MAX_RETRIES, when set, bounds both by attempts instead.
    """

    busy_seconds: float = 300.0
    first_pause: float = 0.2
    unreachable_attempts: int = 3
    attempts: int | None = None

    @classmethod
    def from_environment(cls) -> WritePatience:
        retries = os.environ.get("PREFECT_CLIENT_MAX_RETRIES", "")
        return cls(attempts=1 + int(retries)) if retries.isdigit() else cls()


async def send_write(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    """One write through `client`, retried while the server is busy or briefly away.

    An error answer raises `httpx.HTTPStatusError`, from either kind of client.
    """
    import httpx

    patience = WritePatience.from_environment()
    started = time.monotonic()
    # HttpReader sends exactly once. Prefect's client (tests pass one) sleeps 2 s
    # after every busy answer even with its retries off (3.9.1 `_send_with_retry`).
    send = getattr(client, "send_once", None) or client.request
    for attempt in itertools.count(1):
        try:
            response = await send(method, path, **kwargs)
            response.raise_for_status()  # Prefect's client raises this itself
            return response
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code not in RETRY_STATUSES:
                raise
            failure: Exception = exc
            give_up = time.monotonic() - started > patience.busy_seconds
            pause = min(patience.first_pause * 2.0 ** (attempt - 1), 32.0)
        except httpx.TransportError as exc:
            failure = exc
            give_up = attempt >= patience.unreachable_attempts
            pause = 0.5 * attempt
        if give_up or (patience.attempts is not None and attempt >= patience.attempts):
            raise failure
        await asyncio.sleep(pause)
    raise AssertionError("unreachable")


class HttpReader:
    """Plain HTTP to the Prefect API, with the same credentials as Prefect's client.

    `import prefect` costs seconds; a plan that finds nothing to change need not
    pay it. Reads are idempotent, so connection errors, 429 and 5xx are retried
    here. Writes (`send_once`) are sent once, and `send_write` decides about
    retries: Prefect's own client sleeps 2 s after every busy answer, even with
    its retries off, which cost more than the bare writes in a 1,000-deployment
    first deploy on SQLite. Writes carry Prefect's CSRF token when the server
    asks for one, as Prefect's client does.
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
        self._csrf: dict[str, str] | None = None  # headers; {} when the server wants none
        self._csrf_id = str(uuid.uuid4())
        self._csrf_lock = asyncio.Lock()

    async def send_once(self, method: str, path: str, **kwargs: Any) -> Any:
        """One write, not retried: `send_write` decides."""
        return await self._send(method, path, **kwargs)

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request. Anything but a GET (Prefect's filter reads are POSTs) carries
        Prefect's CSRF headers when the server wants them, renewed once if expired."""
        if method.upper() == "GET":
            return await self._client.request(method, path, **kwargs)
        headers = await self._csrf_headers()
        response = await self._client.request(method, path, headers=headers, **kwargs)
        if response.status_code == 403 and "Invalid CSRF token" in response.text:
            self._csrf = None
            headers = await self._csrf_headers()
            response = await self._client.request(method, path, headers=headers, **kwargs)
        return response

    async def _csrf_headers(self) -> dict[str, str]:
        """Prefect's CSRF handshake (as `PrefectHttpxAsyncClient._add_csrf_headers`):
        a token per client id, or none when the server has CSRF protection off."""
        async with self._csrf_lock:  # reads run at once: one handshake, not three
            if self._csrf is None:
                response = await self._client.get("/csrf-token", params={"client": self._csrf_id})
                if response.status_code == 200:
                    token = response.json()["token"]
                    self._csrf = {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": self._csrf_id}
                elif response.status_code == 404 or (
                    response.status_code == 422 and "CSRF protection is disabled" in response.text
                ):
                    self._csrf = {}
                else:
                    return {}  # busy or odd: ask again with the next request
            return self._csrf

    async def __aenter__(self) -> HttpReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One read, retried while the server is busy or briefly away."""
        import httpx

        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                response = await self._send(method, path, **kwargs)
            except httpx.TransportError:
                if last:
                    raise
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return response
            await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")


RETRY_STATUSES = {429, 502, 503, 504}
