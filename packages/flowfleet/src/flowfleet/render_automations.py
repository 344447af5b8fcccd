"""The automations part of a rendered plan: a second table, Markdown rows, JSON rows."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from flowfleet import secrets
from flowfleet.automation_plan import AutomationChange, AutomationPlan
from flowfleet.render_style import STYLE, cell
from flowfleet.terminal import literal

ROWS = ("create", "update", "delete", "conflicts", "unchanged")


def automations_json(plan: AutomationPlan) -> dict[str, list[dict[str, Any]]]:
    return secrets.mask(plan.as_json())


def _rows(plan: AutomationPlan) -> list[AutomationChange]:
    return [c for section in ROWS for c in getattr(plan, section)]


def _details(change: AutomationChange) -> str:
    if change.reason and not change.changes:
        return secrets.scrub(change.reason)
    return "; ".join(
        f"{key}: {_short(pair['from'])} → {_short(pair['to'])}"
        for key, pair in secrets.mask(change.changes).items()
    )


def _short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= width else text[: width - 1] + "…"


def automations_markdown(plan: AutomationPlan) -> list[str]:
    """Rows for the changes only (none: no lines), under their own header."""
    rows = [c for c in _rows(plan) if c.action != "unchanged"]
    if not rows:
        return []
    lines = ["", "| Automation | Action | Deployment | Details |", "|---|---|---|---|"]
    lines += [
        f"| `{c.full_name}` | {c.action} | {c.deployment or ''} | {cell(_details(c))} |"
        for c in rows
    ]
    return lines


def automations_table(plan: AutomationPlan, console: Console) -> None:
    """A table of every automation row; nothing when the fleet has none."""
    rows = _rows(plan)
    if not rows:
        return
    table = Table(title="Automations")
    for column in ("Automation", "Action", "Deployment", "Details"):
        table.add_column(column, overflow="fold")
    for change in rows:
        style = STYLE.get(change.action, "")
        table.add_row(  # names are shown as written, never as markup
            literal(change.full_name),
            f"[{style}]{change.action}[/]",
            literal(change.deployment),
            literal(_details(change)),
        )
    console.print(table)
