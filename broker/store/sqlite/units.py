"""The unit registry in SQLite: ``units`` and ``session_units`` (see ``broker.store.units``)."""

from __future__ import annotations

import sqlite3

from broker.store.sqlite.tx import write_tx
from broker.store.units import UNIT_FIELDS, UnitRecord, unit_from_row
from broker.typing import Region, SessionId, UnitId


def put_unit(conn: sqlite3.Connection, unit: UnitRecord) -> None:
    """Insert or replace the unit's record (registration and heartbeat alike)."""
    with write_tx(conn):
        conn.execute(
            "INSERT OR REPLACE INTO units VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [getattr(unit, name) for name in UNIT_FIELDS],
        )


def list_units(conn: sqlite3.Connection, region: Region) -> list[UnitRecord]:
    """Every unit of ``region`` ever registered, by id."""
    rows = conn.execute("SELECT * FROM units WHERE region = ? ORDER BY unit_id", (region,))
    return [unit_from_row(dict(zip(UNIT_FIELDS, row, strict=True))) for row in rows]


def hold_session(
    conn: sqlite3.Connection, session_id: SessionId, region: Region, unit_id: UnitId
) -> None:
    """Record ``unit_id`` as the unit relaying ``session_id`` (a later login moves it)."""
    with write_tx(conn):
        conn.execute(
            "INSERT OR REPLACE INTO session_units VALUES (?, ?, ?)", (session_id, region, unit_id)
        )


def held_sessions(conn: sqlite3.Connection, region: Region, unit_id: UnitId) -> list[SessionId]:
    """The sessions ``unit_id`` of ``region`` accepted, live or not, by id."""
    rows = conn.execute(
        "SELECT session_id FROM session_units WHERE region = ? AND unit_id = ? ORDER BY session_id",
        (region, unit_id),
    )
    return [SessionId(row[0]) for row in rows]
