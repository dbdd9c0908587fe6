"""Session operations of the SQLite store, run on its worker thread.

Every state change is one conditional statement whose ``WHERE`` carries the
precondition, inside a ``BEGIN IMMEDIATE`` transaction; the row count decides
who won. Only after a statement matched nothing does the code read, in the
same transaction, to say why.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from broker.errors import BrokerError, ConflictError, InputError, NotFoundError, RegionMismatch
from broker.models import Session
from broker.store.base import Page, SessionQuery
from broker.store.checks import check_ending, check_new_session, check_query
from broker.store.codec import (
    SESSION_COLUMNS,
    decode_cursor,
    encode_cursor,
    serial_to_db,
    session_from_row,
    to_micros,
)
from broker.store.schema import LIVE_STATES_SQL
from broker.store.sqlite_tx import next_rev, read_tx, write_tx
from broker.typing import Region, SessionId, SessionState

# S608 below: only the fixed column lists from codec are interpolated; values are bound.
_CREATE = f"""
INSERT INTO sessions ({SESSION_COLUMNS}, rev)
SELECT :id, :org_id, :ticket_id, :staff_id, :target, :region, :basis, 'issued', :created_at,
       :valid_before, :consent_id, :source_address, :cert_serial, NULL, NULL, :rev
WHERE EXISTS (SELECT 1 FROM tickets t JOIN orgs o ON o.id = t.org_id
              WHERE t.id = :ticket_id AND t.org_id = :org_id AND t.status = 'open'
                AND o.region = :region)
  AND EXISTS (SELECT 1 FROM staff WHERE id = :staff_id AND active = 1)
  AND EXISTS (SELECT 1 FROM targets WHERE org_id = :org_id AND name = :target
                AND region = :region)
  AND (:consent_id IS NULL OR EXISTS (
        SELECT 1 FROM consents WHERE id = :consent_id AND ticket_id = :ticket_id
          AND staff_id = :staff_id AND revoked_at IS NULL AND expires_at > :created_at
          AND expires_at >= :valid_before))
  AND (:world_rev IS NULL
       OR (SELECT value FROM counters WHERE name = 'world_rev') = :world_rev)
"""  # noqa: S608
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
_REV = "SELECT value FROM counters WHERE name = 'session_rev'"
_CHANGES = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE region = ? AND rev > ? ORDER BY rev, id"  # noqa: S608
_TICKET = (
    "SELECT t.org_id, t.status, o.region FROM tickets t JOIN orgs o ON o.id = t.org_id"
    " WHERE t.id = ?"
)
_STAFF = "SELECT active FROM staff WHERE id = ?"
_TARGET = "SELECT region FROM targets WHERE org_id = ? AND name = ?"
_CONSENT = "SELECT ticket_id, staff_id, revoked_at, expires_at FROM consents WHERE id = ?"
WORLD_REV = "SELECT value FROM counters WHERE name = 'world_rev'"


def world_revision_now(conn: sqlite3.Connection) -> int:
    """The revision of everything a grant reads (bumped by triggers on every change)."""
    (rev,) = conn.execute(WORLD_REV).fetchone()
    return int(rev)


def create_session(
    conn: sqlite3.Connection, session: Session, world_revision: int | None = None
) -> Session:
    """Insert an ``issued`` session if the world is still as the policy saw it."""
    params = _create_params(session)
    params["world_rev"] = world_revision
    with write_tx(conn):
        params["rev"] = next_rev(conn)
        try:
            inserted = conn.execute(_CREATE, params).rowcount
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                "session_exists", "the session id or serial is taken", session_id=session.id
            ) from exc
        if inserted != 1:
            raise _why_not_created(conn, session, world_revision)
    return session


def _create_params(session: Session) -> dict[str, Any]:
    check_new_session(session)
    created = to_micros(session.created_at, "created_at")
    valid_before = to_micros(session.valid_before, "valid_before")
    serial = None if session.cert_serial is None else serial_to_db(session.cert_serial)
    return {
        "id": session.id,
        "org_id": session.org_id,
        "ticket_id": session.ticket_id,
        "staff_id": session.staff_id,
        "target": session.target,
        "region": session.region,
        "basis": session.basis,
        "created_at": created,
        "valid_before": valid_before,
        "consent_id": session.consent_id,
        "source_address": session.source_address,
        "cert_serial": serial,
    }


def _why_not_created(
    conn: sqlite3.Connection, session: Session, world_revision: int | None
) -> BrokerError:
    """Name the precondition that failed (read inside the failed transaction).

    A changed world comes first: whatever else failed is a consequence of that
    change, and the caller decides again over the new records (the policy
    then gives its own reasons, e.g. for a staff member deactivated meanwhile).
    """
    if world_revision is not None and world_revision != world_revision_now(conn):
        return ConflictError("world_changed", "the records the decision read changed meanwhile")
    for check in (_ticket_problem, _staff_problem, _target_problem, _consent_problem):
        problem = check(conn, session)
        if problem is not None:
            return problem
    return ConflictError("session_conflict", "the session could not be created")


def _ticket_problem(conn: sqlite3.Connection, session: Session) -> BrokerError | None:
    row = conn.execute(_TICKET, (session.ticket_id,)).fetchone()
    if row is None:
        return NotFoundError("ticket_not_found", "unknown ticket", ticket_id=session.ticket_id)
    if row[0] != session.org_id:
        return InputError("org_id", "is not the ticket's org")
    if row[2] != session.region:
        return RegionMismatch("region_mismatch", "the session region is not the org's region")
    if row[1] != "open":
        return ConflictError("ticket_closed", "the ticket is closed", ticket_id=session.ticket_id)
    return None


def _staff_problem(conn: sqlite3.Connection, session: Session) -> BrokerError | None:
    row = conn.execute(_STAFF, (session.staff_id,)).fetchone()
    if row is None:
        return NotFoundError("staff_not_found", "unknown staff member", staff_id=session.staff_id)
    if not row[0]:
        return ConflictError("staff_inactive", "the staff member is inactive")
    return None


def _target_problem(conn: sqlite3.Connection, session: Session) -> BrokerError | None:
    row = conn.execute(_TARGET, (session.org_id, session.target)).fetchone()
    if row is None:
        return NotFoundError("target_not_found", "unknown target", org_id=session.org_id)
    if row[0] != session.region:
        return RegionMismatch("region_mismatch", "the target is in another region")
    return None


def _consent_problem(conn: sqlite3.Connection, session: Session) -> BrokerError | None:
    if session.consent_id is None:
        return None
    row = conn.execute(_CONSENT, (session.consent_id,)).fetchone()
    if row is None:
        return NotFoundError("consent_not_found", "unknown consent", consent_id=session.consent_id)
    if (row[0], row[1]) != (session.ticket_id, session.staff_id):
        return InputError("consent_id", "names another ticket or staff member")
    return ConflictError(
        "consent_invalid",
        "the consent is revoked, expired or ends before the session",
        consent_id=session.consent_id,
    )


def get_session(conn: sqlite3.Connection, session_id: SessionId) -> Session:
    """The session, or ``NotFoundError``."""
    row = conn.execute(_GET, (session_id,)).fetchone()
    if row is None:
        raise _unknown(session_id)
    return session_from_row(row)


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


def list_sessions(conn: sqlite3.Connection, query: SessionQuery) -> Page[Session]:
    """Matching sessions newest first, ``limit`` at a time."""
    sql, params = _list_sql(query)
    rows = conn.execute(sql, params).fetchall()
    items = [session_from_row(row) for row in rows[: query.limit]]
    if len(rows) <= query.limit:
        return Page(items)
    last = rows[query.limit - 1]
    return Page(items, encode_cursor(last[8], last[0]))


def _list_sql(query: SessionQuery) -> tuple[str, list[Any]]:
    check_query(query)
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("ticket_id", query.ticket_id),
        ("staff_id", query.staff_id),
        ("state", query.state),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.cursor is not None:
        clauses.append("(created_at, id) < (?, ?)")
        params.extend(decode_cursor(query.cursor))
    where = " AND ".join(clauses) or "1"
    # Only fixed column names are interpolated; every value is a bound parameter.
    sql = (
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE {where}"  # noqa: S608
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    )
    return sql, [*params, query.limit + 1]


def session_changes(
    conn: sqlite3.Connection, region: Region, since: int
) -> tuple[int, list[Session]]:
    """The newest revision and the region's sessions changed after ``since``.

    One read transaction, so the revision and the rows are the same snapshot:
    a poller that passes the revision back next time misses nothing.
    """
    with read_tx(conn):
        (rev,) = conn.execute(_REV).fetchone()
        rows = conn.execute(_CHANGES, (region, since)).fetchall()
    return int(rev), [session_from_row(row) for row in rows]
