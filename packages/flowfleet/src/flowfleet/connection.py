"""Which Prefect server, and how to reach it: target resolution and the connection.

`resolve_target` picks the server for one environment (docs/guide.md, "Connecting");
`Connection.to` gathers its credentials, TLS, headers and retries the way Prefect
reads them (flowfleet.prefect_settings). Credentials are never printed.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from flowfleet import prefect_settings, secrets
from flowfleet.environments import Environment
from flowfleet.prefect_settings import PrefectSettings
from flowfleet.problems import FlowfleetError, Problem
from flowfleet.retry import RetryPolicy


@dataclass(frozen=True)
class ApiTarget:
    """The server one environment talks to, and why that one (printed; never a key)."""

    url: str
    source: str
    note: str | None = None  # a Prefect setting that was overruled, said out loud

    def describe(self) -> str:
        line = f"Prefect API: {self.url} (from {self.source})"
        return secrets.scrub(f"{line}; {self.note}" if self.note else line)


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
