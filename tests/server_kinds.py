"""Every kind of Prefect server users run, started by the test session on loopback.

- `postgres_server`: a Prefect server on a real PostgreSQL 15 cluster (the Debian
  binaries, run by a non-root user, created and removed by the session);
- `db_server`: the SQLite session server, or with `@BOTH_DATABASES` each test runs
  against SQLite and PostgreSQL;
- `auth_server`: a server with `PREFECT_SERVER_API_AUTH_STRING` (basic auth);
- `CloudGateway`: a Cloud-shaped front for a real server: the API under
  `/api/accounts/<uuid>/workspaces/<uuid>`, `Authorization: Bearer <key>` required,
  no CSRF endpoint, and 429 with `Retry-After` for chosen requests. Every answer
  that is not a deliberate 401/404/429 comes from the real Prefect server behind it.

Registered from conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowfleet.devpostgres import Postgres
from flowfleet.devserver import HOST, LocalServer, free_port, start_server
from sqlite_template import sqlite_template

AUTH_STRING = "admin:s3cret-pass"
START_TIMEOUT = 240  # seconds: a fresh server's migrations took 99 s on the shared 2 cores
BOTH_DATABASES = pytest.mark.parametrize("db_server", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Postgres]:
    """A PostgreSQL 15 cluster for the session, in a folder its non-root user can reach."""
    if not shutil.which("initdb") and not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("PostgreSQL 15 server binaries (initdb, pg_ctl) are not installed")
    home = Path(tempfile.mkdtemp(prefix="flowfleet-pg-"))
    home.chmod(0o755)  # the PostgreSQL user must traverse it
    cluster = Postgres(home / "pg")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(
    postgres_cluster: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    """A Prefect server on PostgreSQL, set up like the SQLite session server."""
    server = start_server(
        tmp_path_factory.mktemp("prefect-postgres"),
        database_url=postgres_cluster.url,
        settings={"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3"},
        timeout=START_TIMEOUT,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def db_server(request: pytest.FixtureRequest) -> LocalServer:
    """The SQLite session server; `@BOTH_DATABASES` adds a run on PostgreSQL."""
    kind = getattr(request, "param", "sqlite")
    return request.getfixturevalue("postgres_server" if kind == "postgresql" else "prefect_server")


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server that demands basic auth, as self-hosted Prefect does with an auth string."""
    server = start_server(
        tmp_path_factory.mktemp("prefect-auth"),
        services=False,
        settings={"PREFECT_SERVER_API_AUTH_STRING": AUTH_STRING},
        timeout=START_TIMEOUT,
        sqlite_template=sqlite_template(tmp_path_factory),
    )
    try:
        yield server
    finally:
        server.stop()


class CloudGateway:
    """A loopback front shaped like Prefect Cloud, forwarding to a real server.

    `throttle(method, path)` picks requests to answer 429 once each (by method and
    path), with `Retry-After: <retry_after>`; `throttled` and `retried` record when
    a throttled request was refused and when it next came back.
    """

    def __init__(
        self,
        upstream_api_url: str,
        key: str,
        *,
        throttle: Callable[[str, str], bool] = lambda method, path: False,
        retry_after: int = 2,
    ):
        self.upstream = upstream_api_url.rstrip("/")
        self.key = key
        self.account, self.workspace = uuid.uuid4(), uuid.uuid4()
        self.port = free_port()
        self.throttle = throttle
        self.retry_after = retry_after
        self.seen: Counter[tuple[str, str]] = Counter()
        self.unauthorized = 0
        self.csrf_requests = 0
        self.throttled: dict[tuple[str, str], float] = {}
        self.retried: dict[tuple[str, str], float] = {}
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """What PREFECT_CLOUD_API_URL is for Prefect Cloud: the API's root."""
        return f"http://{HOST}:{self.port}/api"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/accounts/{self.account}/workspaces/{self.workspace}"

    def __enter__(self) -> CloudGateway:
        import uvicorn

        config = uvicorn.Config(
            self._app(), host=HOST, port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the Cloud gateway did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)

    def _app(self):
        import httpx
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        lock = asyncio.Lock()
        clients: list[httpx.AsyncClient] = []

        async def gateway(request: Request) -> Response:
            params = request.path_params
            if (params["account"], params["workspace"]) != (
                str(self.account),
                str(self.workspace),
            ):
                return JSONResponse({"detail": "Not Found"}, 404)
            if request.headers.get("authorization") != f"Bearer {self.key}":
                self.unauthorized += 1
                return JSONResponse({"detail": "Invalid authentication credentials"}, 401)
            path = "/" + params["path"]
            if path.rstrip("/") == "/csrf-token":
                self.csrf_requests += 1  # Cloud has no CSRF endpoint
                return JSONResponse({"detail": "Not Found"}, 404)
            key = (request.method, path)
            self.seen[key] += 1
            if key in self.throttled and key not in self.retried:
                self.retried[key] = time.monotonic()
            elif key not in self.throttled and self.throttle(*key):
                self.throttled[key] = time.monotonic()
                return JSONResponse(
                    {"detail": "Rate limit exceeded"},
                    429,
                    headers={"Retry-After": str(self.retry_after)},
                )
            async with lock:
                if not clients:
                    clients.append(httpx.AsyncClient(base_url=self.upstream, timeout=60))
            answer = await clients[0].request(
                request.method,
                path,
                params=request.query_params,
                content=await request.body(),
                headers={"content-type": request.headers.get("content-type", "")},
            )
            return Response(
                answer.content,
                answer.status_code,
                media_type=answer.headers.get("content-type"),
            )

        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        route = "/api/accounts/{account}/workspaces/{workspace}/{path:path}"
        return Starlette(routes=[Route(route, gateway, methods=methods)])
