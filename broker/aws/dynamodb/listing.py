"""Newest-first, cursor-paginated listings through the table's shared indexes.

A listing queries the one index its most selective filter names
(``by_ticket``, ``by_staff``, else ``by_kind``), newest first, and keeps the
records that match the rest of the filters as a reader sees them (states
derived on read included): the cursor is the last kept record's time and id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from broker.aws.dynamodb.codec import Item, time_sort
from broker.aws.dynamodb.table import Table
from broker.store.base import Page
from broker.store.encoding import decode_cursor, encode_cursor

T = TypeVar("T")
_HASH = {"by_ticket": "gt", "by_staff": "gs", "by_kind": "kind"}


def newest_first(
    table: Table,
    index: str,
    key: str,
    cursor: str | None,
    limit: int,
    read: Callable[[Item], T | None],
) -> Page[T]:
    """One page of the records under ``key`` in ``index``, as ``read`` makes them
    (None: a record the other filters leave out)."""
    sort = "ksk" if index == "by_kind" else "gsk"
    cond, values = f"#{_HASH[index]} = :h", {":h": key}
    if cursor is not None:
        cond += f" AND #{sort} < :after"
        values[":after"] = time_sort(*decode_cursor(cursor))
    found: list[Item] = []
    kept: list[T] = []
    for item in table.query(index, cond, values, forward=False, page=min(limit + 1, 100)):
        record = read(item)
        if record is not None:
            found.append(item)
            kept.append(record)
            if len(found) > limit:
                break
    if len(found) <= limit:
        return Page(kept)
    last = found[limit - 1]
    return Page(kept[:limit], encode_cursor(int(last["created_at"]), last["id"]))
