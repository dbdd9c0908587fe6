"""The audit anchors in both stores: an append-only list per region.

One writer per region numbers its anchors 1, 2, 3...; a second row with a
number already taken is refused (``ConflictError``), and nothing updates or
deletes a row (in SQLite triggers refuse it), so the newest anchor of a region
is its row with the highest number.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from botocore.exceptions import ClientError

from broker.errors import ConflictError, UnavailableError
from broker.models import Anchor
from broker.store.dynamodb_table import Table, serialize
from broker.store.sqlite_tx import write_tx
from broker.typing import Region

_COLUMNS = ("region", "number", "seq", "hash", "segment", "line", "offset", "time", "final")


def sqlite_add(conn: sqlite3.Connection, anchor: Anchor) -> None:
    """Insert ``anchor``; ``ConflictError`` if its number is taken."""
    with write_tx(conn):
        try:
            conn.execute(
                "INSERT INTO audit_anchors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [getattr(anchor, name) for name in _COLUMNS],
            )
        except sqlite3.IntegrityError:
            raise ConflictError("anchor_taken", "that anchor number exists") from None


def sqlite_latest(conn: sqlite3.Connection, region: Region) -> Anchor | None:
    """The row of ``region`` with the highest number."""
    row = conn.execute(
        "SELECT * FROM audit_anchors WHERE region = ? ORDER BY number DESC LIMIT 1", (region,)
    ).fetchone()
    return None if row is None else _anchor(dict(zip(_COLUMNS, row, strict=True)))


def _pk(region: Region) -> str:
    return f"ANCHOR#{region}"


def dynamo_add(table: Table, anchor: Anchor) -> None:
    """Put ``anchor`` unless its number is taken (``ConflictError``)."""
    item = {name: getattr(anchor, name) for name in _COLUMNS}
    item.update(pk=_pk(anchor.region), sk=f"{anchor.number:020d}")
    try:
        table.call("put_item", Item=serialize(item), ConditionExpression="attribute_not_exists(pk)")
    except UnavailableError as error:
        cause = error.__cause__
        if isinstance(cause, ClientError) and _code(cause) == "ConditionalCheckFailedException":
            raise ConflictError("anchor_taken", "that anchor number exists") from None
        raise


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def dynamo_latest(table: Table, region: Region) -> Anchor | None:
    """The item of ``region`` with the highest number (a consistent query)."""
    items = table.query(None, "#pk = :pk", {":pk": _pk(region)}, forward=False, page=1)
    item = next(items, None)
    return None if item is None else _anchor(item)


def _anchor(row: dict[str, Any]) -> Anchor:
    return Anchor(
        Region(str(row["region"])), int(row["number"]), int(row["seq"]), str(row["hash"]),
        int(row["segment"]), int(row["line"]), int(row["offset"]), str(row["time"]),
        bool(row["final"]),
    )  # fmt: skip
