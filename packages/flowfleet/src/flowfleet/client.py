"""The one HTTP client for every call flowfleet makes to a Prefect API.

Reads, writes, work pools, branch cleanup, prune, runs and the demo all go through
`ApiClient`: one retry policy, one way to authenticate, one CSRF handshake.
Prefect's schemas may build request bodies; Prefect's client sends nothing.

Which server: see `resolve_target` (and docs/guide.md, "Connecting"). Credentials
are read like Prefect reads them (flowfleet.prefect_settings) and never printed.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import os
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from flowfleet import prefect_settings, secrets
from flowfleet.environments import Environment
from flowfleet.prefect_settings import PrefectSettings
from flowfleet.problems import FlowfleetError, Problem

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class ApiTarget:
    """The server one environment talks to, and why that one (printed; never a key)."""

    url: str
    source: str
    note: str | None = None  # a Prefect setting that was overruled, said out loud

    def describe(self) -> str:
        line = f"Prefect API: {self.url} (from {self.source})"
        return f"{line}; {self.note}" if self.note else line


def resolve_target(environment: Environment, settings: PrefectSettings | None = None) -> ApiTarget:
    """The precedence (one, documented in docs/guide.md "Connecting"):

    1. `PREFECT_API_URL` exported in the process environment: an explicit choice for
       this run (CI sets it from its secrets);
    2. `api_url` in the environment's file: the project's reviewed pin, so a profile
       left pointing at another server never redirects `prod`;
    3. Prefect's own settings: `.env`, `prefect.toml`, `[tool.prefect]`, the active
       profile, in Prefect's order;
    4. nothing: an error. flowfleet never falls back to a default or ephemeral server.
    """
    settings = settings or prefect_settings.load()
    exported = os.environ.get("PREFECT_API_URL")
    if exported:
        return ApiTarget(exported.rstrip("/"), "PREFECT_API_URL in the environment")
    file = f"infra/environments/{environment.name}.toml"
    prefect_url = settings.get("url")
    if environment.api_url:
        note = None
        if prefect_url and prefect_url.rstrip("/") != environment.api_url.rstrip("/"):
            note = (
                f"{settings.sources.get('url', 'your Prefect settings')} names "
                f"{prefect_url}, which an environment file's api_url overrules"
            )
        return ApiTarget(environment.api_url.rstrip("/"), f"api_url in {file}", note)
    if prefect_url:
        return ApiTarget(prefect_url.rstrip("/"), settings.sources.get("url", "Prefect settings"))
    raise FlowfleetError(
        Problem(
            f"no Prefect API URL for environment '{environment.name}': nothing names a server",
            fix=f"export PREFECT_API_URL, set api_url in {file}, "
            "or `prefect config set PREFECT_API_URL=...` in your Prefect profile",
        )
    )


def api_url_for(environment: Environment) -> str:
    return resolve_target(environment).url


@dataclass(frozen=True)
class RetryPolicy:
    """How long a request keeps trying; the same for reads and writes.

    flowfleet's requests are reads, upserts and deletes: safe to repeat.
    - Busy (502/503/504): a SQLite-backed server answers 503 the moment a write
      meets another writer's lock (often its own scheduler): busy for a moment, not
      gone. Retried for up to `busy_seconds`, the pause starting at `first_pause`
      and doubling, capped at 32 s. Measured side by side, 200 new deployments on a
      fresh SQLite server: 76, 77, 69 and 71 s starting at 0.2 s, against 190 and
      177 s starting at 2 s as Prefect's client does.
    - Rate limited (429): wait exactly what `Retry-After` says (Prefect Cloud's
      limits are per minute; retrying sooner only spends the budget), capped at
      `max_retry_after`; without the header, as busy.
    - Unreachable: `unreachable_attempts` quick tries, then the run stops.
    `PREFECT_CLIENT_MAX_RETRIES`, when set, bounds all three by attempts instead.
    """

    busy_seconds: float = 300.0
    first_pause: float = 0.2
    unreachable_attempts: int = 3
    max_retry_after: float = 120.0
    attempts: int | None = None

    @classmethod
    def from_settings(cls, settings: PrefectSettings) -> RetryPolicy:
        retries = settings.get("max_retries")
        explicit = "max_retries" in settings.sources  # Prefect's default (5) is not a choice
        return cls(attempts=1 + int(retries) if explicit and retries is not None else None)

    def pause(self, attempt: int, started: float, response: Any | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1`; None: give up now."""
        if self.attempts is not None and attempt >= self.attempts:
            return None
        if response is None:  # unreachable
            return 0.5 * attempt if attempt < self.unreachable_attempts else None
        if time.monotonic() - started > self.busy_seconds:
            return None
        if response.status_code == 429 and (wait := retry_after(response)) is not None:
            return min(wait, self.max_retry_after)
        return min(self.first_pause * 2.0 ** (attempt - 1), 32.0)


def retry_after(response: Any) -> float | None:
    """`Retry-After` in seconds (RFC 9110: delay-seconds or an HTTP date), else None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to one server: URL, credentials, TLS, headers, retries."""

    url: str
    auth_header: str | None = field(default=None, repr=False)
    credential: str | None = None  # the setting the credential came from, for 401 lines
    verify: Any = True
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    csrf: bool = True
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def to(cls, url: str, settings: PrefectSettings | None = None) -> Connection:
        """A connection to `url` with the user's Prefect settings.

        Credentials that Prefect's settings found in a file (profile, .env,
        prefect.toml) go only to the server those settings name, so a profile's key
        for one workspace is never sent to another server; exported ones go anywhere.
        As in Prefect's client, the auth string (Basic) wins over the key (Bearer).
        """
        settings = settings or prefect_settings.load()
        url = url.rstrip("/")
        own_url = (settings.get("url") or "").rstrip("/")
        auth_header = credential = None
        for name in ("auth_string", "key"):
            value = settings.get(name)
            source = settings.sources.get(name, "")
            exported = source.endswith("in the environment")
            if value and (exported or not own_url or own_url == url):
                secrets.mask(value, secret=True)  # scrubbed from every printed line
                auth_header = (
                    "Basic " + base64.b64encode(value.encode()).decode()
                    if name == "auth_string"
                    else f"Bearer {value}"
                )
                credential = f"{prefect_settings.KEYS[name]} ({source})"
                break
        cloud = (settings.get("cloud_api_url") or prefect_settings.DEFAULT_CLOUD_API_URL).rstrip(
            "/"
        )
        return cls(
            url=url,
            auth_header=auth_header,
            credential=credential,
            verify=_tls(settings),
            headers={
                k: str(v)
                for k, v in (settings.get("custom_headers") or {}).items()
                if k.lower() not in ("user-agent", "prefect-csrf-token", "prefect-csrf-client")
            },
            # Prefect's client: no CSRF handshake with Prefect Cloud, or when turned off.
            csrf=settings.get("csrf_support_enabled", True) and not url.startswith(cloud),
            timeout=float(settings.get("request_timeout") or 30.0),
            retry=RetryPolicy.from_settings(settings),
        )


def _tls(settings: PrefectSettings) -> Any:
    """Prefect's TLS rules: skip verification when told, else the given CA file."""
    if settings.get("tls_insecure_skip_verify", False):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if cert_file := settings.get("ssl_cert_file"):
        return ssl.create_default_context(cafile=cert_file)
    return True


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


HttpReader = ApiClient  # the earlier name, kept for callers not yet renamed


async def send_write(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    """One write through `client` (retried by its policy); raises on an error answer."""
    response = await client.request(method, path, **kwargs)
    response.raise_for_status()
    return response
