"""The audit anchors in SQLite: rows of ``audit_anchors`` (see ``broker.store.anchors``).

The key is (region, writer, number): one chain's anchors, numbered by its writer."""

from __future__ import annotations

import sqlite3

from broker.errors import ConflictError
from broker.models import Anchor
from broker.store.anchors import ANCHOR_FIELDS, anchor_from_row
from broker.store.sqlite.tx import write_tx
from broker.typing import Region, WriterId

_COLUMNS = ", ".join(ANCHOR_FIELDS)
# S608: only the fixed column names of ANCHOR_FIELDS are interpolated.
_INSERT = f"INSERT INTO audit_anchors ({_COLUMNS}) VALUES ({', '.join('?' * len(ANCHOR_FIELDS))})"  # noqa: S608
_LATEST = (
    f"SELECT {_COLUMNS} FROM audit_anchors WHERE region = ? AND writer = ?"  # noqa: S608
    " ORDER BY number DESC LIMIT 1"
)


def add(conn: sqlite3.Connection, anchor: Anchor) -> None:
    """Insert ``anchor``; ``ConflictError`` if its chain has its number already."""
    with write_tx(conn):
        try:
            conn.execute(_INSERT, [getattr(anchor, name) for name in ANCHOR_FIELDS])
        except sqlite3.IntegrityError:
            raise ConflictError("anchor_taken", "that anchor number exists") from None


def latest(conn: sqlite3.Connection, region: Region, writer: WriterId) -> Anchor | None:
    """The row of the chain (``region``, ``writer``) with the highest number."""
    row = conn.execute(_LATEST, (region, writer)).fetchone()
    return None if row is None else anchor_from_row(dict(zip(ANCHOR_FIELDS, row, strict=True)))


def writers(conn: sqlite3.Connection, region: Region) -> list[WriterId]:
    """The writers with anchors in ``region``, sorted."""
    rows = conn.execute(
        "SELECT DISTINCT writer FROM audit_anchors WHERE region = ? ORDER BY writer", (region,)
    ).fetchall()
    return [WriterId(str(writer)) for (writer,) in rows]
