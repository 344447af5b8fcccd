"""Secrets never reach output: the one scrubber for everything flowfleet prints or writes.

What is secret:

- a value under a credential-like name, in any case style (`db_password`, `dbPassword`,
  `db-password`, `DB_PASSWORD`, `apiKey`, `AUTH_STRING`), wherever it sits in a structure,
  including `{"name": "DB_PASSWORD", "value": ...}` pairs (env lists, ECS and Kubernetes);
- the password in a URL (`http://user:****@host/api`), or the whole user part when it
  has no password (`https://****@github.com`, a token), and secret-named query values;
- `Authorization`-style credentials (`Bearer ...`, `Basic ...`), well-known API key
  shapes (Prefect `pnu_`/`pnb_`, GitHub `ghp_`..., AWS `AKIA...`);
- the API credential in the process environment, and every value learnt while masking.

Secret values are still sent to the server (a worker needs them). `mask` (structures) and
`scrub` (free text) are applied where output is made: tables, JSON, Markdown, rendered
jobs, error lines, and the cache directory, which never stores a structure that holds one
(`holds_secrets`). `guard` wraps stdout and stderr as a last belt for lines built elsewhere.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any, TextIO

MASK = "****"
CREDENTIAL_VARIABLES = ("PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")
MIN_LENGTH = 4  # shorter learnt values are not searched for inside free text
LITERALS = frozenset({"true", "false", "null", "none", "yes", "no"})  # would break JSON/YAML
# A name is secret when its last word is one of these, or ends with a long one
# (`dbpassword`, `clienttoken`). `key` counts only after another word (`api_key`, not `key`).
# Not `secrets`: ECS's `secrets` list holds references (`valueFrom` ARNs), not values.
LAST_WORDS = frozenset(
    {"password", "passwd", "passphrase", "secret", "token", "tokens", "apikey"}
    | {"credential", "credentials", "auth", "authorization", "cookie", "privatekey"}
)
GLUED = ("password", "passwd", "secret", "token", "apikey", "credentials")
LAST_TWO = frozenset({("auth", "string"), ("auth", "header"), ("private", "key")})
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s/@:]*)(?P<password>:[^\s/@]*)?@"
)
_QUERY_VALUE = re.compile(r"(?P<lead>[?&;](?P<name>[\w.-]+)=)(?P<value>[^&#\s'\"]+)")
_AUTH_HEADER = re.compile(
    r"(?i)\b(?P<scheme>bearer|basic|token)\s+(?P<value>[A-Za-z0-9._~+/-]{8,}=*)"
)
_KEY_SHAPES = re.compile(
    r"\b(?:pn[ub]_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|AKIA[0-9A-Z]{16})\b"
)
# `name: value` / `name=value` in free text (reprs, YAML, env files, error lines).
_PAIR = re.compile(
    r"(?P<key>[\"']?[A-Za-z_][\w.-]*[\"']?)(?P<sep>\s*[:=]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;)}\]&]+)"
)
_SCHEMES = frozenset({"Bearer", "Basic", "bearer", "basic", "Token", "token"})
_PLACEHOLDER = re.compile(r"^(?:\.\.\.|…|<[^>]*>|\$\{?\w+\}?|\{\{.*\}\}|\*+)$")

_known: set[str] = set()  # secret values seen while masking, for scrubbing free text


def words(name: str) -> list[str]:
    """`dbPassword` -> [db, password]; `DB_PASSWORD`, `db-password` -> the same."""
    return [w.lower() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORD.findall(part)]


def is_secret_name(name: object) -> bool:
    return isinstance(name, str) and _secret_name(name)


@lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    found = words(name)
    if not found:
        return False
    last = found[-1]
    if last in LAST_WORDS or tuple(found[-2:]) in LAST_TWO:
        return True
    if last == "key" and len(found) > 1:
        return True
    return any(last.endswith(glued) for glued in GLUED)


def remember(value: Any) -> None:
    """Learn the secret values inside a structure, so `scrub` finds them in free text."""
    mask(value)


def mask(value: Any, secret: bool = False) -> Any:
    """A copy of `value`: secret-named values replaced by MASK, every string scrubbed."""
    if isinstance(value, dict):
        pair_name = value.get("name", value.get("key"))
        if "value" in value and isinstance(pair_name, str) and is_secret_name(pair_name):
            return {k: mask(v, secret or k == "value") for k, v in value.items()}
        return {k: mask(v, secret or is_secret_name(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v, secret) for v in value]
    if secret and value is not None:
        text = str(value)
        if _searchable(text):
            _known.add(text)
        return MASK
    return scrub(value) if isinstance(value, str) else value


def holds_secrets(value: Any) -> bool:
    """True when masking would change `value`: it must not be written to a file."""
    return mask(value) != value


def scrub(text: str) -> str:
    """`text` with credentials in URLs, auth headers, key shapes, secret-named pairs and
    every known secret value replaced by MASK."""
    if not text:
        return text
    text = _URL_USERINFO.sub(_url_userinfo, text)
    text = _QUERY_VALUE.sub(_query_value, text)
    text = _AUTH_HEADER.sub(_auth_header, text)
    text = _KEY_SHAPES.sub(MASK, text)
    text = _PAIR.sub(_pair, text)
    for value in sorted(_known_values(), key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def _known_values() -> set[str]:
    values = set(_known)
    values.update(v for v in (os.environ.get(n) for n in CREDENTIAL_VARIABLES) if v)
    return {v for v in values if _searchable(v)}


def _searchable(value: str) -> bool:
    """Long enough to find in text without masking ordinary output (`true`, `8080`)."""
    if len(value) < MIN_LENGTH or value == MASK or value.lower() in LITERALS:
        return False
    return not (value.isdigit() and len(value) < 8)


def _url_userinfo(match: re.Match[str]) -> str:
    user, password = match["user"], match["password"]
    if password is not None:
        return f"{match['scheme']}{user}:{MASK}@" if password != ":" else match[0]
    return f"{match['scheme']}{MASK}@" if user and user != "git" else match[0]


def _query_value(match: re.Match[str]) -> str:
    return f"{match['lead']}{MASK}" if is_secret_name(match["name"]) else match[0]


def _auth_header(match: re.Match[str]) -> str:
    value = match["value"]
    if not any(c.isdigit() for c in value) and not value.endswith("="):
        return match[0]  # prose ("basic authentication"), not a credential
    return f"{match['scheme']} {MASK}"


def _pair(match: re.Match[str]) -> str:
    key = match["key"].strip("\"'")
    value = match["value"]
    bare = value.strip("\"'")
    if not is_secret_name(key) or not bare or _PLACEHOLDER.match(bare) or bare in _SCHEMES:
        return match[0]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['key']}{match['sep']}{quote}{MASK}{quote}"


class _Scrubbed:
    """A text stream whose writes are scrubbed; everything else is the stream's own."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(scrub(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard() -> None:
    """Scrub everything written to stdout and stderr from here on (the CLI calls it once)."""
    import sys

    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Scrubbed):
            setattr(sys, name, _Scrubbed(stream))
