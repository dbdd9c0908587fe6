"""The audit anchors in SQLite: rows of ``audit_anchors`` (see ``broker.store.anchors``)."""

from __future__ import annotations

import sqlite3

from broker.errors import ConflictError
from broker.models import Anchor
from broker.store.anchors import ANCHOR_FIELDS, anchor_from_row
from broker.store.sqlite.tx import write_tx
from broker.typing import Region


def add(conn: sqlite3.Connection, anchor: Anchor) -> None:
    """Insert ``anchor``; ``ConflictError`` if its number is taken."""
    with write_tx(conn):
        try:
            conn.execute(
                "INSERT INTO audit_anchors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [getattr(anchor, name) for name in ANCHOR_FIELDS],
            )
        except sqlite3.IntegrityError:
            raise ConflictError("anchor_taken", "that anchor number exists") from None


def latest(conn: sqlite3.Connection, region: Region) -> Anchor | None:
    """The row of ``region`` with the highest number."""
    row = conn.execute(
        "SELECT * FROM audit_anchors WHERE region = ? ORDER BY number DESC LIMIT 1", (region,)
    ).fetchone()
    return None if row is None else anchor_from_row(dict(zip(ANCHOR_FIELDS, row, strict=True)))
