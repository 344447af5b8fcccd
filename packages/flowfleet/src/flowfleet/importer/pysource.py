"""Python source for the values a decorator holds, formatted the way `ruff format` keeps it.

A call or collection goes on one line when it fits, else one item a line with a
trailing comma (ruff's "magic trailing comma" keeps that layout stable).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

WIDTH = 100
INDENT = "    "


@dataclass(frozen=True)
class Call:
    """`name(positional, ..., key=value, ...)`, imported as `from module import name`."""

    name: str
    module: str
    arguments: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    positional: tuple[Any, ...] = ()

    def imports(self) -> set[tuple[str, str]]:
        found = {(self.module, self.name)} | imports_of(self.positional)
        for _, value in self.arguments:
            found |= imports_of(value)
        return found


def imports_of(value: Any) -> set[tuple[str, str]]:
    """Every (module, name) the source of `value` needs."""
    if isinstance(value, Call):
        return value.imports()
    if isinstance(value, timedelta):
        return {("datetime", "timedelta")}
    if isinstance(value, datetime):
        return {("datetime", "datetime")}
    if isinstance(value, dict):
        return set().union(*(imports_of(v) for v in value.values()), set())
    if isinstance(value, list | tuple):
        return set().union(*(imports_of(v) for v in value), set())
    return set()


def render(value: Any, level: int = 0, prefix: str = "") -> str:
    """`value` as source; `prefix` (such as `key=`) sits on the same line, at `level`."""
    flat = _flat(value)
    if flat is not None and len(INDENT * level + prefix + flat) + 1 <= WIDTH:
        return flat
    if isinstance(value, Call) and (value.arguments or value.positional):
        items = [render(v, level + 1) for v in value.positional]
        items += [f"{k}={render(v, level + 1, f'{k}=')}" for k, v in value.arguments]
        return _block(f"{value.name}(", items, ")", level)
    if isinstance(value, dict) and value:
        items = []
        for k, v in value.items():
            key = f"{_flat(k)}: "
            items.append(key + render(v, level + 1, key))
        return _block("{", items, "}", level)
    if isinstance(value, list | tuple) and value:
        return _block("[", [render(v, level + 1) for v in value], "]", level)
    if isinstance(value, str) and "\n" in value.rstrip("\n"):
        # A long text over several lines, as implicitly joined literals, one a line.
        parts = [_flat(line) for line in value.splitlines(keepends=True)]
        return "(\n" + "".join(f"{INDENT * (level + 1)}{p}\n" for p in parts) + f"{INDENT * level})"
    return flat if flat is not None else repr(value)


def _block(open_: str, items: list[str], close: str, level: int) -> str:
    inner = INDENT * (level + 1)
    lines = "".join(f"{inner}{item},\n" for item in items)
    return f"{open_}\n{lines}{INDENT * level}{close}"


def _flat(value: Any) -> str | None:
    """`value` on one line, or None for a value this module cannot write."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return None
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a Python literal
    if isinstance(value, timedelta):
        return f"timedelta({_timedelta_arguments(value)})"
    if isinstance(value, datetime) and value.tzinfo is None:
        return f"datetime({_datetime_arguments(value)})"
    if isinstance(value, Call):
        positional = _all_flat(value.positional)
        parts = _all_flat(v for _, v in value.arguments)
        if positional is None or parts is None:
            return None
        keys = [k for k, _ in value.arguments]
        keywords = [f"{k}={p}" for k, p in zip(keys, parts, strict=True)]
        return f"{value.name}({', '.join(positional + keywords)})"
    if isinstance(value, dict):
        keys, values = _all_flat(value), _all_flat(value.values())
        if keys is None or values is None:
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, values, strict=True)) + "}"
    if isinstance(value, list | tuple):
        items = _all_flat(value)
        return None if items is None else "[" + ", ".join(items) + "]"
    return None


def _all_flat(values: Any) -> list[str] | None:
    parts = [_flat(v) for v in values]
    return None if any(p is None for p in parts) else parts  # type: ignore[return-value]


def _timedelta_arguments(value: timedelta) -> str:
    """The largest whole unit: `hours=6` rather than `seconds=21600`."""
    seconds = value.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{unit}={int(seconds // size)}"
    return f"seconds={int(seconds) if seconds.is_integer() else seconds}"


def _datetime_arguments(value: datetime) -> str:
    """A naive datetime's fields, the trailing zero ones (past the day) left out."""
    parts = [value.year, value.month, value.day, value.hour, value.minute, value.second]
    parts.append(value.microsecond)
    while len(parts) > 3 and parts[-1] == 0:
        parts.pop()
    return ", ".join(str(p) for p in parts)
