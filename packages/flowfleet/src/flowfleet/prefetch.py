"""Read the server on a thread while the fleet resolves.

Resolving a changed package means importing its flows, and so `import prefect`:
seconds of CPU in this process. Reading the server is mostly waiting for another
process. Doing both at once takes the longer of the two instead of their sum.

The read is the same as the normal one (same reader, same retries), so a failure
surfaces as the same error, only once resolution has succeeded: bad input is still
reported first. A read older than `MAX_AGE_S` by the time the plan needs it is
thrown away and done again, so a slow resolution never plans against stale state.

What to read is not known before resolving, so the read ahead guesses: the last
resolution's scope (flowfleet.read_scope), used only if it covers this one's. With
no guess it reads everything, unless the server holds more than
`read_scope.READ_ALL_MAX` deployments (one count call): on a shared workspace that
would cost far more than the project's own read, which then runs after resolving.

Until resolution has settled whether prewarm workers run, and until they finish, the
pages that arrive are kept compressed; the first page after, or the plan's take,
parses them (paging.py). Parsed beside the workers, the server state at 10,000
deployments raised the process tree of a cold `plan` from 291 MB (no read ahead) to
348 to 391 MB; held, the read still overlaps the workers. Holding only once the
workers had started left the pages read before them parsed: one cold `plan` reached
351 MB. Holding through a warm resolution cost 7 MB of peak (bench/findings.md).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from flowfleet import read_scope
from flowfleet.client import ApiClient
from flowfleet.connection import api_url_for
from flowfleet.environments import Environment
from flowfleet.observed import ServerRows, ServerState, read_server_rows
from flowfleet.problems import FlowfleetError
from flowfleet.read_scope import ReadScope

MAX_AGE_S = 30.0


class ServerPrefetch:
    def __init__(self, api_url: str, scope: ReadScope | None = None, lease: str | None = None):
        self.api_url = api_url
        self.scope = scope
        self.lease = lease  # the deploy lease whose release mark the read starts with
        self._rows: ServerRows | None = None
        self._holding = threading.Event()  # set until resolution settles (see above)
        self._holding.set()
        self._error: BaseException | None = None
        self._finished_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="flowfleet-prefetch", daemon=True)

    @classmethod
    def start_for(
        cls, environment: Environment, remembered: Path, lease: str | None = None
    ) -> ServerPrefetch | None:
        """Start reading `environment`'s server, guessing its scope from the last run's
        (`remembered`, flowfleet.read_scope). None with no API URL: resolution still runs,
        and the error comes after it, so bad input is reported first."""
        try:
            api_url = api_url_for(environment)
        except FlowfleetError:
            return None
        return cls.start(api_url, read_scope.recall(remembered), lease)

    @classmethod
    def start(
        cls, api_url: str, scope: ReadScope | None = None, lease: str | None = None
    ) -> ServerPrefetch:
        prefetch = cls(api_url, scope, lease)
        prefetch._thread.start()
        return prefetch

    def _run(self) -> None:
        async def read() -> ServerRows | None:
            async with ApiClient(self.api_url) as reader:
                if self.scope is None and await read_scope.crowded(reader):
                    return None
                return await read_server_rows(
                    reader, self.api_url, self.scope, self.lease, hold=self._holding.is_set
                )

        try:
            self._rows = asyncio.run(read())
        except Exception as exc:  # noqa: BLE001 - re-raised where the plan reads
            self._error = exc
        self._finished_at = time.monotonic()

    def settled(self) -> None:
        """No prewarm worker runs from now on: parse what was held, and what comes."""
        self._holding.clear()

    def take(self, api_url: str, scope: ReadScope | None = None) -> ServerState | None:
        """The state read ahead, narrowed to `scope` (None: everything), or None when
        it is stale, for another server, or does not cover `scope`; the read's own
        error, if it failed."""
        self.settled()
        self._thread.join()
        if api_url.rstrip("/") != self.api_url.rstrip("/"):
            return None
        if self.scope is not None and (scope is None or not self.scope.covers(scope)):
            return None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._finished_at is None or time.monotonic() - self._finished_at > MAX_AGE_S:
            return None
        rows, self._rows = self._rows, None  # one use: a second read is a real read
        if rows is None:
            return None
        state = rows.state()
        if scope is None or state.scope == scope:
            return state
        return state.narrowed(scope)
