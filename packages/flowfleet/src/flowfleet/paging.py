"""Every row of a paged `/…/filter` read, each once, parsed as its page arrives or held back.

Parsing page by page keeps only the parsed rows: a raw deployment row carries fields
the plan never reads (the parameter schema, audit fields). At 10,000 deployments,
holding every raw row until the last page raised a warm `plan`'s peak from 205 to
242 MB, and a cold one's from 377 to 408 MB.

A page may also be held back: kept as its compressed JSON and parsed later. The read
ahead (prefetch.py) holds its pages until resolution settles, so they are never parsed
beside a cold run's prewarm workers. At 10,000 deployments the 51 pages took 1.8 MB
compressed, against about 76 MB parsed, and parsing them afterwards took 0.44 s
(bench/findings.md).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable
from typing import Any

PAGE_SIZE = 200  # the server's maximum rows per filter call

# Offset pages are only as stable as their sort. Prefect sorts deployments and
# automations by name unless told otherwise, and names repeat (every flow may have a
# `nightly`). PostgreSQL returns rows that tie in any order, so name-sorted pages
# skipped some deployments and repeated others: at 1,000 deployments a no-op redeploy
# re-created one, and tests/test_paging.py missed 5 of 80 with pages of 7. A creation
# time ties only within a microsecond, and newest-first means a row another project
# creates mid-read repeats one (dropped by id) instead of hiding one. Flows, work
# pools and block documents sort by keys that are unique.
SORTS = {
    "/deployments/filter": "CREATED_DESC",
    "/automations/filter": "CREATED_DESC",
    "/block_documents/filter": "BLOCK_TYPE_AND_NAME_ASC",
}

Parse = Callable[[dict[str, Any]], Any]


def _as_is(row: dict[str, Any]) -> dict[str, Any]:
    return row


class PagedRows:
    """The rows read so far, in the order the pages came; the first copy of an id wins.

    `hold` is asked at each page: while it answers True, pages are kept compressed. The
    first page that arrives after, or `values()`, parses them, in their place."""

    def __init__(self, parse: Parse | None = None, hold: Callable[[], bool] | None = None):
        self._parse = parse or _as_is
        self._hold = hold
        self._parts: list[dict[str, Any] | bytes] = []  # a parsed page by id, or a held one
        self._seen: set[str] = set()  # ids parsed: a repeat is not parsed again

    def add(self, page: list[dict[str, Any]], content: bytes) -> None:
        """One page: its decoded rows, and the bytes they were decoded from."""
        if self._hold is not None and self._hold():
            self._parts.append(zlib.compress(content, 1))
            return
        self._thaw()
        self._parts.append(self._parsed(page))

    @property
    def held(self) -> int:
        """How many pages wait to be parsed."""
        return sum(isinstance(part, bytes) for part in self._parts)

    def values(self) -> list[Any]:
        """Every row once, parsed; held pages are parsed now."""
        self._thaw()
        return [row for part in self._parts for row in part.values()]  # type: ignore[union-attr]

    def _thaw(self) -> None:
        if self.held:
            self._parts = [
                self._parsed(json.loads(zlib.decompress(part))) if isinstance(part, bytes) else part
                for part in self._parts
            ]

    def _parsed(self, page: list[dict[str, Any]]) -> dict[str, Any]:
        parsed = {}
        for row in page:
            if (key := str(row["id"])) not in self._seen:
                self._seen.add(key)
                parsed[key] = self._parse(row)
        return parsed


async def read_pages(
    client: Any,
    path: str,
    filters: Iterable[dict[str, Any]] = ({},),
    parse: Parse | None = None,
    hold: Callable[[], bool] | None = None,
) -> PagedRows:
    """Every row of `path`, paged, for each filter body (by default one unfiltered read);
    with `parse`, what it makes of each row as its page arrives (unless `hold`)."""
    rows = PagedRows(parse, hold)
    sort = {"sort": SORTS[path]} if path in SORTS else {}
    for body in filters:
        offset = 0
        while True:
            response = await client.request(
                "POST", path, json={**body, **sort, "limit": PAGE_SIZE, "offset": offset}
            )
            response.raise_for_status()
            page = response.json()  # a held page is decoded here for its length alone
            rows.add(page, response.content)
            offset += len(page)
            if len(page) < PAGE_SIZE:
                break
    return rows


async def read_all(
    client: Any,
    path: str,
    filters: Iterable[dict[str, Any]] = ({},),
    parse: Parse | None = None,
) -> list[Any]:
    """Every row of `path` (see `read_pages`), parsed."""
    return (await read_pages(client, path, filters, parse)).values()
