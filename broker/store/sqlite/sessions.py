"""Session operations of the SQLite store, run on its worker thread.

Every state change is one conditional statement whose ``WHERE`` carries the
precondition, inside a ``BEGIN IMMEDIATE`` transaction; the row count decides
who won. Only after a statement matched nothing does the code read, in the
same transaction, to say why.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from broker.errors import BrokerError, ConflictError, NotFoundError
from broker.models import Session
from broker.store.base import Page, SessionQuery
from broker.store.checks import check_ending, check_query
from broker.store.encoding import to_micros
from broker.store.sqlite.codec import SESSION_COLUMNS, session_from_row
from broker.store.sqlite.listing import Listing
from broker.store.sqlite.schema import LIVE_STATES_SQL
from broker.store.sqlite.tx import SESSION_REV, next_rev, read_tx, write_tx
from broker.typing import Region, SessionId, SessionState

# S608 below: only the fixed column lists from codec are interpolated; values are bound.
_GET = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"  # noqa: S608
_STATE = "SELECT state, valid_before FROM sessions WHERE id = ?"
_END = (
    f"UPDATE sessions SET state = ?, ended_at = ?, end_reason = ?, rev = ?"  # noqa: S608
    f" WHERE id = ? AND state IN {LIVE_STATES_SQL} RETURNING {SESSION_COLUMNS}"
)
_CONNECT = (
    "UPDATE sessions SET state = 'connected', rev = ?"  # noqa: S608
    f" WHERE id = ? AND state = 'issued' AND valid_before > ? RETURNING {SESSION_COLUMNS}"
)
_ENDED = (
    f"SELECT {SESSION_COLUMNS} FROM sessions"  # noqa: S608
    f" WHERE region = ? AND rev > ? AND state NOT IN {LIVE_STATES_SQL} ORDER BY rev, id"
)


def get_session(conn: sqlite3.Connection, session_id: SessionId, now: datetime) -> Session:
    """The session as of ``now`` (``Session.as_of``), or ``NotFoundError``."""
    row = conn.execute(_GET, (session_id,)).fetchone()
    if row is None:
        raise _unknown(session_id)
    return session_from_row(row).as_of(now)


def end_session(
    conn: sqlite3.Connection, session_id: SessionId, state: SessionState, reason: str, at: datetime
) -> Session:
    """Live -> ``state`` exactly once; a later call finds it ended."""
    check_ending(state, reason)
    params = (state, to_micros(at, "at"), reason)
    with write_tx(conn):
        rows = conn.execute(_END, (*params, next_rev(conn), session_id)).fetchall()
        if not rows:
            raise _not_live(conn, session_id)
    return session_from_row(rows[0])


def mark_connected(conn: sqlite3.Connection, session_id: SessionId, at: datetime) -> Session:
    """``issued`` -> ``connected`` while unexpired; a session connects once."""
    at_us = to_micros(at, "at")
    with write_tx(conn):
        rows = conn.execute(_CONNECT, (next_rev(conn), session_id, at_us)).fetchall()
        if not rows:
            raise _not_live(conn, session_id)
    return session_from_row(rows[0])


def _unknown(session_id: str) -> NotFoundError:
    return NotFoundError("session_not_found", "unknown session", session_id=session_id)


def _not_live(conn: sqlite3.Connection, session_id: SessionId) -> BrokerError:
    row = conn.execute(_STATE, (session_id,)).fetchone()
    if row is None:
        return _unknown(session_id)
    state = row[0] if row[0] != "issued" else "expired by time"
    return ConflictError("session_not_live", f"the session is {state}", session_id=session_id)


def list_sessions(conn: sqlite3.Connection, query: SessionQuery, now: datetime) -> Page[Session]:
    """Matching sessions as of ``now`` (states as ``Session.as_of`` derives them), newest first."""
    check_query(query)
    equal = (
        ("ticket_id", query.ticket_id),
        ("staff_id", query.staff_id),
        ("org_id", query.org_id),
        ("region", query.region),
    )
    bounds = (
        ("created_at >= ?", None if query.since is None else to_micros(query.since, "since")),
        ("created_at < ?", None if query.until is None else to_micros(query.until, "until")),
    )
    now_us = to_micros(now, "now")
    sql, params = LISTING.sql(equal, query.state, query.cursor, query.limit, now_us, bounds)
    rows = conn.execute(sql, params).fetchall()
    return LISTING.page(rows, query.limit, lambda row: session_from_row(row).as_of(now))


LISTING = Listing(
    "sessions",
    SESSION_COLUMNS,
    8,
    # The state filter on the state as read (``Session.as_of``), not as stored.
    {
        "issued": "state = 'issued' AND valid_before > ?",
        "expired": "(state = 'expired' OR (state = 'issued' AND valid_before <= ?))",
    },
)


def ended_sessions(
    conn: sqlite3.Connection, region: Region, since: int
) -> tuple[int, list[Session]]:
    """The newest revision and the region's sessions that ended after ``since``.

    One read transaction, so the revision and the rows are the same snapshot:
    a poller that passes the revision back next time misses nothing. Live
    sessions are skipped inside SQLite: at thousands of grants a second,
    turning each new one into a ``Session`` only for the gateway to ignore it
    cost the main process ~20 us per grant.
    """
    with read_tx(conn):
        (rev,) = conn.execute(SESSION_REV).fetchone()
        rows = conn.execute(_ENDED, (region, since)).fetchall()
    return int(rev), [session_from_row(row) for row in rows]
