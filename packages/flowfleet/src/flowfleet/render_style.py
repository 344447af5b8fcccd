"""What every rendered section shares: the colour of each action and the Markdown cell
escape, so the deployment, pool and automation tables look and escape alike."""

from __future__ import annotations

STYLE = {
    "create": "green",
    "created": "green",
    "update": "yellow",
    "updated": "yellow",
    "delete": "red",
    "deleted": "red",
    "failed": "bold red",
    "conflict": "bold red",
    "unchanged": "dim",
    "skipped": "dim",
    "kept": "magenta",
}


def cell(text: str) -> str:
    """`text` safe inside a Markdown table cell."""
    return text.replace("|", "\\|")
