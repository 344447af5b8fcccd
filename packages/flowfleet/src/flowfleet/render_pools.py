"""The declared work pools' part of a rendered plan: JSON sections, a table, Markdown rows."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from flowfleet import secrets
from flowfleet.changes import PoolChange
from flowfleet.render_style import STYLE, cell
from flowfleet.terminal import literal

POOL_SECTIONS = ("create", "update", "unchanged", "conflicts")


def pools_json(rows: list[PoolChange]) -> dict[str, list[dict[str, Any]]]:
    """`{"create": [...], "update": [...], "unchanged": [...], "conflicts": [...]}`."""
    sections: dict[str, list[dict[str, Any]]] = {s: [] for s in POOL_SECTIONS}
    for row in rows:
        section = "conflicts" if row.action == "conflict" else row.action
        sections[section].append(secrets.mask(row.as_json()))
    return sections


def details(row: PoolChange) -> str:
    if row.reason:
        return secrets.scrub(row.reason)
    return "; ".join(
        f"{key}: {_short(pair['from'])} → {_short(pair['to'])}"
        for key, pair in secrets.mask({k: c.pair() for k, c in row.changes.items()}).items()
    )


def _short(value: Any, width: int = 30) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= width else text[: width - 1] + "…"


def pools_table(rows: list[PoolChange], console: Console) -> None:
    if not rows:
        return
    table = Table(title="Work pools")
    for column in ("Work pool", "Type", "Action", "Details"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = STYLE.get(row.action, "")
        table.add_row(
            literal(row.name), row.type, f"[{style}]{row.action}[/]", literal(details(row))
        )
    console.print(table)


def pools_markdown(rows: list[PoolChange]) -> list[str]:
    changed = [r for r in rows if r.action != "unchanged"]
    if not changed:
        return []
    lines = ["| Work pool | Type | Action | Details |", "|---|---|---|---|"]
    lines += [f"| `{r.name}` | {r.type} | {r.action} | {cell(details(r))} |" for r in changed]
    return [*lines, ""]
