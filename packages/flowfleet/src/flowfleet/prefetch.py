"""Read the server on a thread while the fleet resolves.

Resolving a changed package means importing its flows, and so `import prefect`:
seconds of CPU in this process. Reading the server is mostly waiting for another
process. Doing both at once takes the longer of the two instead of their sum.

The read is the same as the normal one (same reader, same retries), so a failure
surfaces as the same error, only once resolution has succeeded: bad input is still
reported first. A read older than `MAX_AGE_S` by the time the plan needs it is
thrown away and done again, so a slow resolution never plans against stale state.
"""

from __future__ import annotations

import asyncio
import threading
import time

from flowfleet.client import ApiClient
from flowfleet.observed import ServerState, read_server_state

MAX_AGE_S = 30.0


class ServerPrefetch:
    def __init__(self, api_url: str):
        self.api_url = api_url
        self._state: ServerState | None = None
        self._error: BaseException | None = None
        self._finished_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="flowfleet-prefetch", daemon=True)

    @classmethod
    def start(cls, api_url: str) -> ServerPrefetch:
        prefetch = cls(api_url)
        prefetch._thread.start()
        return prefetch

    def _run(self) -> None:
        async def read() -> ServerState:
            async with ApiClient(self.api_url) as reader:
                return await read_server_state(reader, self.api_url)

        try:
            self._state = asyncio.run(read())
        except Exception as exc:  # noqa: BLE001 - re-raised where the plan reads
            self._error = exc
        self._finished_at = time.monotonic()

    def take(self, api_url: str) -> ServerState | None:
        """The state read ahead, or None when it is stale or for another server;
        the read's own error, if it failed."""
        self._thread.join()
        if api_url.rstrip("/") != self.api_url.rstrip("/"):
            return None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._finished_at is None or time.monotonic() - self._finished_at > MAX_AGE_S:
            return None
        state, self._state = self._state, None  # one use: a second read is a real read
        return state
