"""The server's notification blocks, by reference: the ids alert automations send to.

Read with the rest of the server state (observed.py pages it): the block documents
whose schema can `notify`. Only each block's id, name and type slug are kept: the
server masks secret fields unless asked (`include_secrets` stays false), and flowfleet
never asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NOTIFY_FILTER = {
    "block_schemas": {"block_capabilities": {"all_": ["notify"]}},
    "include_secrets": False,
}


def notification_blocks(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """`<block-type-slug>/<block-name>` -> block document id, for every named
    notification block among `rows` (`/block_documents/filter` answers)."""
    found: dict[str, str] = {}
    for row in rows:
        slug = (row.get("block_type") or {}).get("slug")
        if slug and row.get("name"):
            found[f"{slug}/{row['name']}"] = str(row["id"])
    return found
