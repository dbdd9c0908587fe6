"""Transaction helpers shared by the SQLite store's operations.

All functions here run on the store's single worker thread with its one
connection; none of them may be called from the event loop.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from broker.errors import BrokerError
from broker.models import Session
from broker.store.encoding import newest_first
from broker.store.sqlite.codec import SESSION_COLUMNS, session_from_row
from broker.store.sqlite.schema import BUSY_TIMEOUT_SECONDS, LIVE_STATES_SQL

SESSION_REV = "SELECT value FROM counters WHERE name = 'session_rev'"
"""The store's session revision now (bumped by every session change)."""
_NEXT_REV = "UPDATE counters SET value = value + 1 WHERE name = 'session_rev' RETURNING value"
_ADVANCE_REV = "UPDATE counters SET value = value + ? WHERE name = 'session_rev'"
# S608 below: only the fixed column lists from codec are interpolated; values are bound.
_REVOKE_MANY = {
    column: (
        f"UPDATE sessions SET state = 'revoked', ended_at = ?, end_reason = ?, rev = ?"  # noqa: S608
        f" WHERE {column} = ? AND state IN {LIVE_STATES_SQL}"
    )
    for column in ("consent_id", "ticket_id", "staff_id")
}
_REVOKE_LIVE = {
    column: f"{sql} RETURNING {SESSION_COLUMNS}" for column, sql in _REVOKE_MANY.items()
}


LOCK_WAIT_SECONDS = BUSY_TIMEOUT_SECONDS
"""How long a writer waits for the write lock, as long as any other statement would."""
_LOCK_POLL_SECONDS = 0.0002


def begin_immediate(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, retried every 0.2 ms while another connection writes.

    SQLite's own busy handler (``timeout=``) sleeps 1, 2, 5, 10, 15 ms ... between
    tries, so with several API processes committing back to back a writer
    could sleep tens of milliseconds after the lock was free again. Waiting
    here in short steps (on the store's own thread) takes it within 0.2 ms.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(_LOCK_POLL_SECONDS)


@contextlib.contextmanager
def write_tx(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction holding the write lock from its first statement.

    ``BEGIN IMMEDIATE`` takes the lock up front, so two connections never both
    read and then both try to upgrade; any exception rolls everything back.
    Inside the worker's group commit the write becomes one savepoint of the
    group's transaction instead, rolled back alone on any exception.
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT write")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO write")
            conn.execute("RELEASE write")
            raise
        conn.execute("RELEASE write")
        return
    begin_immediate(conn)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


@contextlib.contextmanager
def read_tx(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: every statement inside sees one snapshot."""
    conn.execute("BEGIN")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; a dead connection has nothing to undo."""
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def insert_once(
    conn: sqlite3.Connection,
    sql: str,
    params: Mapping[str, Any],
    *,
    taken: Callable[[], BrokerError],
    refused: Callable[[], BrokerError],
) -> None:
    """Run a conditional one-row insert; raise ``taken()`` or ``refused()`` if it did not go in.

    ``taken`` names a key already stored (the statement undid itself);
    ``refused`` says which of the statement's conditions failed (it is read
    inside the same transaction, so it sees what the insert saw).
    """
    try:
        inserted = conn.execute(sql, params).rowcount
    except sqlite3.IntegrityError as exc:
        raise taken() from exc
    if inserted != 1:
        raise refused()


def next_rev(conn: sqlite3.Connection) -> int:
    """Bump and return the store's session revision (inside a write transaction)."""
    (rev,) = conn.execute(_NEXT_REV).fetchone()
    return int(rev)


def advance_rev(conn: sqlite3.Connection, count: int) -> None:
    """Move the session revision past ``count`` revisions taken from ``SESSION_REV`` meanwhile."""
    conn.execute(_ADVANCE_REV, (count,))


def revoke_live(
    conn: sqlite3.Connection, column: str, key: str, reason: str, at: int
) -> list[Session]:
    """Revoke every live session whose ``column`` equals ``key``; return them."""
    rows = conn.execute(_REVOKE_LIVE[column], (at, reason, next_rev(conn), key)).fetchall()
    return newest_first([session_from_row(row) for row in rows])


def insert_new(
    conn: sqlite3.Connection, statement: str, values: Sequence[object], conflict: BrokerError
) -> None:
    """Insert one row whose key must be new (a viewer token, a console record), or ``conflict``."""
    try:
        with write_tx(conn):
            conn.execute(statement, values)
    except sqlite3.IntegrityError as error:
        raise conflict from error
