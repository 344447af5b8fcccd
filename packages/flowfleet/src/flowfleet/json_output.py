"""JSON for stdout, written as it is encoded instead of built whole first.

`json.dumps(data, indent=2)` runs the pure-Python encoder, lists every fragment
(about 1.5 million for `list --output json` at 10,000 deployments), then joins them
into one string: the list and the string were 55 MB of a warm 10,000 `list`'s
185 MB traced peak. Writing as it goes prints the same bytes.

Every write ends where one item (a list element, or a key with its value) ends:
stdout scrubs each write on its own (`secrets.guard`), and a `"password": "..."`
pair cut between two writes would pass its pattern unmasked.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

WRITE_AT = 1 << 16  # characters: fewer, larger writes keep the scrubbing cheap


def print_json(
    data: Any, *, default: Callable[[Any], Any] | None = None, file: TextIO | None = None
) -> None:
    """What `print(json.dumps(data, indent=2, default=default))` prints."""
    _write(json.JSONEncoder(indent=2, default=default).iterencode(data), file)


def print_json_array(items: Iterable[Any], *, file: TextIO | None = None) -> None:
    """What `print_json(list(items))` prints, holding one item at a time: the 10,000
    rows of a `list` were 21 MB more at its peak."""
    _write(_array_fragments(items, json.JSONEncoder(indent=2)), file)


def _array_fragments(items: Iterable[Any], encoder: json.JSONEncoder) -> Iterator[str]:
    # The encoder escapes every character outside printable ASCII, so the only
    # newlines in an encoded item are its indentation's.
    opened = False
    for item in items:
        yield (",\n  " if opened else "[\n  ") + encoder.encode(item).replace("\n", "\n  ")
        opened = True
    yield "\n]" if opened else "[]"


def _write(fragments: Iterable[str], file: TextIO | None) -> None:
    """Write in pieces of at least WRITE_AT characters, each cut just before an item
    separator: the encoder yields a separator as a fragment starting with ",", and
    no string value or number starts with one."""
    out = file or sys.stdout
    pending: list[str] = []
    size = 0
    for fragment in fragments:
        if size >= WRITE_AT and fragment.startswith(","):
            out.write("".join(pending))
            pending, size = [], 0
        pending.append(fragment)
        size += len(fragment)
    pending.append("\n")
    out.write("".join(pending))
