"""JSON for stdout, written as it is encoded instead of built whole first.

`json.dumps(data, indent=2)` runs the pure-Python encoder, lists every fragment
(about 1.5 million for `list --output json` at 10,000 deployments), then joins them
into one string: the list and the string were 55 MB of a warm 10,000 `list`'s
185 MB traced peak. Writing the fragments in batches prints the same bytes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

FRAGMENTS_PER_WRITE = 4096


def print_json(
    data: Any, *, default: Callable[[Any], Any] | None = None, file: TextIO | None = None
) -> None:
    """What `print(json.dumps(data, indent=2, default=default))` prints."""
    out = file or sys.stdout
    batch: list[str] = []
    for fragment in json.JSONEncoder(indent=2, default=default).iterencode(data):
        batch.append(fragment)
        if len(batch) >= FRAGMENTS_PER_WRITE:
            out.write("".join(batch))
            batch.clear()
    batch.append("\n")
    out.write("".join(batch))


def print_json_array(
    items: Iterable[Any],
    *,
    default: Callable[[Any], Any] | None = None,
    file: TextIO | None = None,
) -> None:
    """What `print_json(list(items))` prints, holding one item at a time: the 10,000
    rows of a `list` were 21 MB more at its peak. The encoder escapes every character
    outside printable ASCII, so the only newlines in an item are its indentation's."""
    out = file or sys.stdout
    encoder = json.JSONEncoder(indent=2, default=default)
    opened = False
    for item in items:
        out.write(",\n  " if opened else "[\n  ")
        out.write(encoder.encode(item).replace("\n", "\n  "))
        opened = True
    out.write("\n]\n" if opened else "[]\n")
