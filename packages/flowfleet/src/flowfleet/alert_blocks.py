"""The server's notification blocks, by reference: the ids alert automations send to.

One paged `POST /block_documents/filter` for the blocks whose schema can `notify`,
read with the rest of the server state. Only each block's id, name and type slug are
kept: the server masks secret fields unless asked (`include_secrets` stays false),
and flowfleet never asks.
"""

from __future__ import annotations

from typing import Any

PAGE_SIZE = 200  # the server's maximum rows per filter call


async def read_notification_blocks(client: Any) -> dict[str, str]:
    """`<block-type-slug>/<block-name>` -> block document id, for every named
    notification block on the server."""
    found: dict[str, str] = {}
    offset = 0
    while True:
        response = await client.request(
            "POST",
            "/block_documents/filter",
            json={
                "block_schemas": {"block_capabilities": {"all_": ["notify"]}},
                "include_secrets": False,
                "limit": PAGE_SIZE,
                "offset": offset,
            },
        )
        response.raise_for_status()
        page = response.json()
        for row in page:
            slug = (row.get("block_type") or {}).get("slug")
            if slug and row.get("name"):
                found[f"{slug}/{row['name']}"] = str(row["id"])
        if len(page) < PAGE_SIZE:
            return found
        offset += len(page)
