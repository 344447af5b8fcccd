"""The terminal boundary: Rich consoles, and user-supplied text shown exactly as written.

Names come from teams and servers (`backfill[bold]-x`, `nightly:fire:`); Rich would read
them as markup or emoji codes, altering them or raising on a stray `[/]`. Data keeps the
raw text; `literal` escapes it (and scrubs secrets) only where a console prints it.
"""

from __future__ import annotations

import re
import sys

from rich.console import Console
from rich.markup import escape

from flowfleet import secrets

# Rich reads `\[` as `[` even where no tag follows, which `escape` leaves alone.
_BACKSLASH_BEFORE_TEXT = re.compile(r"\\(?=\[(?![a-z#/@][^[]*?\]))")


def literal(value: object) -> str:
    """`value` as Rich markup that prints exactly as written, secrets scrubbed."""
    text = secrets.scrub("" if value is None else str(value))
    # The sentinel keeps `escape` from doubling a trailing backslash (meant for a tag after).
    return escape(_BACKSLASH_BEFORE_TEXT.sub(r"\\\\", text) + "x")[:-1]


def console(*, stderr: bool = False, width: int | None = None) -> Console:
    """A console without emoji codes; when piped (CI logs, tests) `width` wide, so names
    are not cut."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else width, emoji=False)
