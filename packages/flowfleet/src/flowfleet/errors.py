"""Turn client and HTTP errors into one readable line that names the URL."""

from __future__ import annotations


def describe_error(exc: BaseException, api_url: str) -> str:
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        detail = ""
        try:
            body = exc.response.json()
            detail = body.get("detail") if isinstance(body, dict) else body
        except ValueError:
            detail = exc.response.text[:200]
        return (
            f"{exc.request.method} {exc.request.url} answered {exc.response.status_code}: {detail}"
        )
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out talking to {api_url}"
    if isinstance(exc, httpx.TransportError | ConnectionError | OSError):
        return f"cannot reach the Prefect API at {api_url} ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"
