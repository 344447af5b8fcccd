"""Secrets never reach output: one place that decides what is secret and masks it.

A value is secret when its key is named like a credential (`*_KEY`, `*_TOKEN`,
`*_SECRET`, `*_PASSWORD`, any case), wherever it sits in job variables or
parameters, or when it is the API credential in the process environment. Secret
values are still sent to the server (a worker needs them); they are masked only
in what flowfleet prints: `list`, plan diffs, reports and error lines.
"""

from __future__ import annotations

import os
import re
from typing import Any

MASK = "****"
SECRET_NAME = re.compile(r"(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
CREDENTIAL_VARIABLES = ("PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")
MIN_LENGTH = 4  # shorter values are not searched for inside free text

_known: set[str] = set()  # secret values seen while masking, for scrubbing free text


def is_secret_name(name: object) -> bool:
    return isinstance(name, str) and bool(SECRET_NAME.search(name))


def remember(value: Any) -> None:
    """Learn the secret values inside a structure, so `scrub` finds them in free text."""
    mask(value)


def mask(value: Any, secret: bool = False) -> Any:
    """A copy of `value` with every value under a secret-named key replaced by MASK."""
    if isinstance(value, dict):
        return {k: mask(v, secret or is_secret_name(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v, secret) for v in value]
    if secret and value is not None:
        text = str(value)
        if len(text) >= MIN_LENGTH:
            _known.add(text)
        return MASK
    return scrub(value) if isinstance(value, str) else value


def scrub(text: str) -> str:
    """`text` with every known secret value and the API credential replaced by MASK."""
    values = set(_known)
    values.update(v for v in (os.environ.get(n) for n in CREDENTIAL_VARIABLES) if v)
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= MIN_LENGTH and value in text:
            text = text.replace(value, MASK)
    return text
