"""Every error as one readable line: pydantic's without boilerplate, HTTP ones naming the URL.

The one place that describes an exception for a problem line, a report or the CLI.
"""

from __future__ import annotations

from typing import Any

from flowfleet.problems import one_line

# Statuses that say "the server, not this request": retried, then the run stops.
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})


def describe_error(exc: BaseException, api_url: str | None = None) -> str:
    """An exception as one short line; `api_url` names the server a transport error failed on."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"])
            msg = error["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return f"{exc.title}: {'; '.join(parts)}"
    if api_url is None:
        return one_line(f"{type(exc).__name__}: {exc}")
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        detail: Any = ""
        try:
            body = exc.response.json()
            detail = _detail(body) if isinstance(body, dict) else body
        except ValueError:
            detail = exc.response.text[:200]
        # Never the request body: Prefect's 422 answer echoes it, secrets and all.
        line = one_line(
            f"{exc.request.method} {exc.request.url} answered {exc.response.status_code}: {detail}"
        )[:500]
        return line + auth_hint(exc.request, exc.response.status_code)
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out talking to {api_url}"
    if isinstance(exc, httpx.TransportError | ConnectionError | OSError):
        return one_line(f"cannot reach the Prefect API at {api_url} ({type(exc).__name__}: {exc})")
    return one_line(f"{type(exc).__name__}: {exc}")


def auth_hint(request: Any, status: int) -> str:
    """For a refused credential: which setting to check (its name, never its value)."""
    if status != 401:
        return ""
    sent = request.headers.get("Authorization", "")
    if getattr(request.url, "password", None):  # httpx sends a URL's user:password as Basic
        return " (the server refused the user and password in the API URL: check them)"
    if sent.startswith("Basic "):
        return " (the server refused PREFECT_API_AUTH_STRING: check it)"
    if sent.startswith("Bearer "):
        return " (the server refused PREFECT_API_KEY: check it)"
    return (
        " (no credentials were sent: set PREFECT_API_AUTH_STRING for a server with basic "
        "auth, or PREFECT_API_KEY for Prefect Cloud)"
    )


def auth_failure(exc: BaseException) -> bool:
    """True when the server refused the credentials: every other call would fail too."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) == 401


def server_unavailable(exc: BaseException) -> bool:
    """True when the failure is the server's (gone, stalled, overloaded), not the request's."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in UNAVAILABLE_STATUSES
    return isinstance(exc, httpx.TransportError | ConnectionError | OSError)


def _detail(body: dict[str, Any]) -> Any:
    """`detail`, or the field errors of a validation answer without their `input` values."""
    errors = body.get("detail") or body.get("exception_detail")
    if errors and not isinstance(errors, list):
        return errors
    if errors:
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}"
            for e in errors
            if isinstance(e, dict)
        )
    return body.get("exception_message", "")
