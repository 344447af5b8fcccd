"""A loopback HTTP proxy that misbehaves on purpose, in front of a real Prefect server.

It runs an asyncio loop in a thread, reads each HTTP/1.1 request (request line,
headers and a Content-Length body: what httpx sends), and either forwards it to the
upstream server or answers it itself. Tests flip its `mode` while it runs:

- "forward": pass everything through, counting requests by (method, path);
- "503": answer 503 to requests that `matches`; `budget` of them, then forward again
  (None: forever);
- "stall": read the request and never answer;
- "slow": forward requests that `matches` after `seconds`, so a test that must act
  while a run is writing has a window that does not depend on the machine's load.

`on_request(method, path, count)` is called after a request is forwarded, so a test can
kill the upstream server after its N-th `POST /api/deployments/`. Nothing here mocks
Prefect: every answer that is not a deliberate 503 or stall comes from the real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable

from flowfleet.devserver import HOST, free_port

_BODY = b'{"detail": "proxy says: try again later"}'
UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_BODY), _BODY)
)


class Proxy:
    def __init__(self, upstream_port: int | None, port: int | None = None):
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.mode = "forward"
        self.matches: Callable[[str, str], bool] = lambda method, path: True
        self.budget: int | None = None
        self.seconds = 0.0
        self.held = 0  # "slow" requests waiting out their delay or being forwarded
        self.seen: Counter[tuple[str, str]] = Counter()
        self.refused: Counter[tuple[str, str]] = Counter()
        self.on_request: Callable[[str, str, int], None] | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    def __enter__(self) -> Proxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        if self._server:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def misbehave(
        self,
        mode: str,
        matches: Callable[[str, str], bool] | None = None,
        budget: int | None = None,
        seconds: float = 0.0,
    ) -> None:
        self.matches = matches or (lambda method, path: True)
        self.budget = budget
        self.seconds = seconds
        self.mode = mode

    def settle(self, timeout: float = 30) -> None:
        """Wait until no delayed request is still on its way upstream: a client that was
        stopped mid-request may still have one held here."""
        deadline = time.monotonic() + timeout
        while self.held and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.held, f"{self.held} delayed requests still held after {timeout} s"
        time.sleep(0.5)  # the last one forwarded: let the server commit it

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, HOST, self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        pump: asyncio.Task[None] | None = None
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                length = 0
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                path = path.split("?", 1)[0]
                if self._refuse(method, path):
                    self.refused[(method, path)] += 1
                    if self.mode == "stall":
                        await reader.read()  # until the client gives up and hangs up
                        return
                    writer.write(UNAVAILABLE)
                    await writer.drain()
                    return
                held = self.mode == "slow" and self.matches(method, path)
                self.held += held
                try:
                    if held:
                        await asyncio.sleep(self.seconds)
                    if upstream is None:
                        upstream = await asyncio.open_connection(HOST, self.upstream_port)
                        pump = asyncio.create_task(_pipe(upstream[0], writer))
                    upstream[1].write(head + body)
                    await upstream[1].drain()
                finally:
                    self.held -= held
                self.seen[(method, path)] += 1
                if self.on_request:
                    self.on_request(method, path, self.seen[(method, path)])
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            if pump:
                pump.cancel()
            if upstream:
                upstream[1].close()
            writer.close()

    def _refuse(self, method: str, path: str) -> bool:
        if self.mode in ("forward", "slow") or not self.matches(method, path):
            return False
        if self.budget is None:
            return True
        if self.budget <= 0:
            return False
        self.budget -= 1
        return True


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()
