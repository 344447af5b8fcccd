"""Write a file whole or not at all, with other processes writing the same file.

Two commands in one workspace (`validate` and `list` side by side, or two CI jobs)
write the same cache files. With one shared temporary name, the second rename found
its temporary file already moved by the first and `list` crashed
(`FileNotFoundError`). Each writer now has a temporary file of its own; the last
rename wins, and every version it can win with is whole.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """`path.write_text(text)`, atomically: readers see the old file or the new one."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
