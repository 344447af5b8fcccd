"""One changed deployment as a row of a GitHub section's table, and the Markdown helpers.

Each row says what changes field by field (and key by key inside job variables and
parameters), with secrets masked, values and cells cut short, failures shown in
place of the change.
"""

from __future__ import annotations

import json

from flowfleet import secrets
from flowfleet.plan import Change
from flowfleet.render_style import cell

OPEN_ROWS = 10  # a changes table longer than this is collapsed


def change_row(change: Change, outcome, with_result: bool) -> str:
    action = {"conflict": "⚠️ **conflict**", "delete": "🗑️ delete"}.get(change.action, change.action)
    cells = [f"`{change.full_name}`", change.package or "", action]
    if with_result:
        status = outcome.status if outcome else "not run"
        cells.append("❌ **failed**" if status == "failed" else status)
    details = _details_text(change)
    if outcome is not None and outcome.status == "failed" and outcome.details:
        details = secrets.scrub(outcome.details)
    cells.append(cell(short(details, 300)))
    return "| " + " | ".join(cells) + " |"


def _details_text(change: Change) -> str:
    """Each changed field, and inside a dict (job variables, parameters) each changed key,
    so an image tag's move is not cut off behind the keys that stayed."""
    if change.reason and not change.changes:
        return secrets.scrub(change.reason)
    if change.action == "create":
        return f"on `{change.work_pool}`" if change.work_pool else ""
    parts = []
    for field, pair in secrets.mask(change.changes_json()).items():
        before, after = pair.get("from"), pair.get("to")
        if isinstance(before, dict) and isinstance(after, dict):
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    parts.append(
                        f"{field}.{key}: {_value(before.get(key))} → {_value(after.get(key))}"
                    )
        else:
            parts.append(f"{field}: {_value(before)} → {_value(after)}")
    return "; ".join(parts).replace("\n", " ")


def _value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return f"`{short(text, 80)}`".replace("``", "` `")


def collapsed(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>\n"


def short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
