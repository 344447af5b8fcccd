"""A loopback HTTP proxy that counts API calls by method and path, then forwards them.

Used only for the dedicated counting runs (small scale), never for timed runs.
Stdlib only: a threading HTTP/1.1 server with keep-alive, a fresh upstream
connection per request.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}


def normalise(path: str) -> str:
    """`/api/deployments/<uuid>` -> `/deployments/{id}`; pool and flow names -> `{name}`."""
    path = urlsplit(path).path
    path = path.removeprefix("/api")
    path = UUID.sub("{id}", path)
    parts = path.split("/")
    # /work_pools/<name>[/...], /flows/name/<name>, /deployments/name/<flow>/<name>
    if len(parts) > 2 and parts[1] == "work_pools" and parts[2] not in ("filter", "count", ""):
        parts[2] = "{name}"
    if len(parts) > 3 and parts[2] == "name":
        parts[3:] = ["{name}"] * len(parts[3:])
    return "/".join(parts) or "/"


class CountingProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, delay: float = 0.0):
        """`delay` seconds are added to every request, as a network's round trip would
        (each request waits on its own thread, so requests in flight overlap)."""
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _forward(self) -> None:
                key = f"{self.command} {normalise(self.path)}"
                with proxy.lock:
                    proxy.counts[key] += 1
                if self.headers.get("Upgrade"):  # websockets are not proxied
                    self.send_response(501)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if delay:
                    time.sleep(delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                # A fresh upstream connection per request: a reused one can be closed by the
                # server's keep-alive timeout, and a retried request would be counted twice.
                upstream = http.client.HTTPConnection(upstream_host, upstream_port, timeout=300)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException):
                    with proxy.lock:
                        proxy.counts[f"proxy error: {key}"] += 1
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                finally:
                    upstream.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> CountingProxy:
        self.thread.start()
        return self

    def take(self) -> dict[str, int]:
        """The counts since the last take, and start again from zero."""
        with self.lock:
            counts = dict(sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))
            self.counts.clear()
        return counts

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
