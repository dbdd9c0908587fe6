"""Console sessions, sign-in links and logins in the SQLite store (run on its worker thread).

Only the digest of each secret is stored. Using a record is one conditional
``UPDATE`` (its kind, not ended, not expired and, for a session, seen within
the idle bound); when it matches nothing, a read in the same transaction
says why.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from broker.errors import ConflictError
from broker.models import ConsoleSession
from broker.store.checks import check_new_console_session, console_unusable
from broker.store.encoding import from_micros, to_micros
from broker.store.sqlite.codec import opt_micros
from broker.store.sqlite.tx import insert_new, write_tx
from broker.typing import ConsoleKind, TokenDigest

# S608 below: only the fixed column list is interpolated; values are bound.
_COLUMNS = "digest, kind, subject, role, org, data, created_at, expires_at, last_seen_at, ended_at"
_INSERT = f"INSERT INTO console_sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"  # noqa: S608
_LIVE = "digest = ? AND kind = ? AND ended_at IS NULL AND expires_at > ?"
_TOUCH = (
    f"UPDATE console_sessions SET last_seen_at = ? WHERE {_LIVE} AND last_seen_at > ?"  # noqa: S608
    f" RETURNING {_COLUMNS}"
)
_END = f"UPDATE console_sessions SET ended_at = ? WHERE {_LIVE} RETURNING {_COLUMNS}"  # noqa: S608
_GET = f"SELECT {_COLUMNS} FROM console_sessions WHERE digest = ?"  # noqa: S608

Row = tuple[str, str, str, str, str | None, str, int, int, int, int | None]


def _record(row: Row) -> ConsoleSession:
    digest, kind, subject, role, org, data, created, expires, seen, ended = row
    return ConsoleSession(
        digest=TokenDigest(digest),
        kind=kind,  # type: ignore[arg-type]  # the table's CHECK admits CONSOLE_KINDS only
        subject=subject,
        role=role,
        org=org,
        created_at=from_micros(created),
        expires_at=from_micros(expires),
        last_seen_at=from_micros(seen),
        data=data,
        ended_at=opt_micros(ended),
    )


def add_console_session(conn: sqlite3.Connection, record: ConsoleSession) -> None:
    """Insert a new record; a known digest is a conflict."""
    check_new_console_session(record)
    values = (
        record.digest,
        record.kind,
        record.subject,
        record.role,
        record.org,
        record.data,
        to_micros(record.created_at, "created_at"),
        to_micros(record.expires_at, "expires_at"),
        to_micros(record.last_seen_at, "last_seen_at"),
    )
    insert_new(
        conn,
        _INSERT,
        values,
        ConflictError("console_session_exists", "the digest is known already"),
    )


def touch_console_session(
    conn: sqlite3.Connection,
    digest: TokenDigest,
    kind: ConsoleKind,
    at: datetime,
    idle_since: datetime,
) -> ConsoleSession:
    """Mark the record seen at ``at`` if live and seen after ``idle_since``; else why not."""
    at_us, idle_us = to_micros(at, "at"), to_micros(idle_since, "idle_since")
    return _update(conn, _TOUCH, (at_us, digest, kind, at_us, idle_us), digest, at, idle_since)


def end_console_session(
    conn: sqlite3.Connection, digest: TokenDigest, kind: ConsoleKind, at: datetime
) -> ConsoleSession:
    """End the live record once (a link or login used, a session signed out); else why not."""
    at_us = to_micros(at, "at")
    return _update(conn, _END, (at_us, digest, kind, at_us), digest, at, None)


def _update(
    conn: sqlite3.Connection,
    statement: str,
    values: tuple[object, ...],
    digest: TokenDigest,
    at: datetime,
    idle_since: datetime | None,
) -> ConsoleSession:
    with write_tx(conn):
        row = conn.execute(statement, values).fetchone()
        if row is None:
            found = conn.execute(_GET, (digest,)).fetchone()
            raise console_unusable(None if found is None else _record(found), at, idle_since)
    return _record(row)
