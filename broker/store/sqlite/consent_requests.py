"""Consent requests in the SQLite store, run on its worker thread (writes) or a reader.

A decision is one conditional ``UPDATE`` (pending, unexpired); an approval
inserts its consent in the same transaction, so either both are stored or
neither. When the update matches nothing, a read in the same transaction
says why.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from broker.errors import BrokerError, ConflictError, InputError, NotFoundError
from broker.models import ConsentRequest
from broker.store.base import ConsentRequestDecision, ConsentRequestQuery, Page
from broker.store.checks import (
    check_decision,
    check_new_consent_request,
    check_request_query,
    undecidable,
)
from broker.store.encoding import from_micros, to_micros
from broker.store.sqlite.codec import opt_micros
from broker.store.sqlite.consents import add_consent, missing_for
from broker.store.sqlite.listing import Listing
from broker.store.sqlite.tx import insert_once, write_tx
from broker.typing import (
    ConsentId,
    ConsentRequestId,
    CountryCode,
    OrgId,
    Region,
    StaffId,
    Subject,
    TicketId,
)

# S608 below: only the fixed column list and fixed clauses are interpolated; values are bound.
COLUMNS = (
    "id, org_id, region, ticket_id, staff_id, staff_country, duration_seconds, reason, state,"
    " created_at, expires_at, decided_by, decided_at, granted_seconds, deny_reason, consent_id"
)
_ADD = f"""
INSERT INTO consent_requests ({COLUMNS})
SELECT :id, :org_id, :region, :ticket_id, :staff_id, :staff_country, :duration_seconds,
       :reason, 'pending', :created_at, :expires_at, NULL, NULL, NULL, NULL, NULL
WHERE EXISTS (SELECT 1 FROM tickets WHERE id = :ticket_id AND org_id = :org_id)
  AND EXISTS (SELECT 1 FROM orgs WHERE id = :org_id AND region = :region)
  AND EXISTS (SELECT 1 FROM staff WHERE id = :staff_id)
"""  # noqa: S608
_GET = f"SELECT {COLUMNS} FROM consent_requests WHERE id = ?"  # noqa: S608
_DECIDE = (
    "UPDATE consent_requests SET state = ?, decided_by = ?, decided_at = ?,"  # noqa: S608
    " granted_seconds = ?, deny_reason = ?, consent_id = ?"
    " WHERE id = ? AND state = 'pending' AND expires_at > ?"
    f" RETURNING {COLUMNS}"
)
_EXPIRE = (
    "UPDATE consent_requests SET state = 'expired'"  # noqa: S608
    f" WHERE state = 'pending' AND expires_at <= ? RETURNING {COLUMNS}"
)
LISTING = Listing(
    "consent_requests",
    COLUMNS,
    9,
    # The state filter on the state as read (``ConsentRequest.as_of``), not as stored.
    {
        "pending": "state = 'pending' AND expires_at > ?",
        "expired": "(state = 'expired' OR (state = 'pending' AND expires_at <= ?))",
    },
)


def request_from_row(row: Any) -> ConsentRequest:
    """A ``ConsentRequest`` from a row in ``COLUMNS`` order, as stored."""
    decided_by, consent_id = row[11], row[15]
    return ConsentRequest(
        id=ConsentRequestId(row[0]),
        org_id=OrgId(row[1]),
        region=Region(row[2]),
        ticket_id=TicketId(row[3]),
        staff_id=StaffId(row[4]),
        staff_country=CountryCode(row[5]),
        duration_seconds=int(row[6]),
        reason=row[7],
        state=row[8],
        created_at=from_micros(row[9]),
        expires_at=from_micros(row[10]),
        decided_by=None if decided_by is None else Subject(decided_by),
        decided_at=opt_micros(row[12]),
        granted_seconds=row[13],
        deny_reason=row[14],
        consent_id=None if consent_id is None else ConsentId(consent_id),
    )


def add_consent_request(conn: sqlite3.Connection, request: ConsentRequest) -> ConsentRequest:
    """Insert a pending request for an existing ticket of its org (in its region) and staff."""
    check_new_consent_request(request)
    params = {
        "id": request.id,
        "org_id": request.org_id,
        "region": request.region,
        "ticket_id": request.ticket_id,
        "staff_id": request.staff_id,
        "staff_country": request.staff_country,
        "duration_seconds": request.duration_seconds,
        "reason": request.reason,
        "created_at": to_micros(request.created_at, "created_at"),
        "expires_at": to_micros(request.expires_at, "expires_at"),
    }
    with write_tx(conn):
        insert_once(
            conn,
            _ADD,
            params,
            taken=lambda: ConflictError(
                "consent_request_exists", "the request id is taken", consent_request_id=request.id
            ),
            refused=lambda: _why_not_added(conn, request),
        )
    return request


def _why_not_added(conn: sqlite3.Connection, request: ConsentRequest) -> BrokerError:
    missing = missing_for(conn, request.ticket_id, request.org_id, request.staff_id)
    return missing or InputError("region", "is not the org's region")


def get_consent_request(
    conn: sqlite3.Connection, request_id: ConsentRequestId, now: datetime
) -> ConsentRequest:
    """The request as of ``now``, or ``NotFoundError``."""
    return _stored(conn, request_id).as_of(now)


def _stored(conn: sqlite3.Connection, request_id: str) -> ConsentRequest:
    row = conn.execute(_GET, (request_id,)).fetchone()
    if row is None:
        raise NotFoundError(
            "consent_request_not_found", "unknown consent request", consent_request_id=request_id
        )
    return request_from_row(row)


def list_consent_requests(
    conn: sqlite3.Connection, query: ConsentRequestQuery, now: datetime
) -> Page[ConsentRequest]:
    """Matching requests as of ``now`` (states as ``ConsentRequest.as_of`` derives them),
    newest first, paginated."""
    check_request_query(query)
    equal = (
        ("org_id", query.org_id),
        ("ticket_id", query.ticket_id),
        ("staff_id", query.staff_id),
    )
    now_us = to_micros(now, "now")
    sql, params = LISTING.sql(equal, query.state, query.cursor, query.limit, now_us)
    rows = conn.execute(sql, params).fetchall()
    return LISTING.page(rows, query.limit, lambda row: request_from_row(row).as_of(now))


def decide_consent_request(
    conn: sqlite3.Connection, request_id: ConsentRequestId, decision: ConsentRequestDecision
) -> ConsentRequest:
    """End a pending, unexpired request once; an approval stores its consent with it."""
    at_us = to_micros(decision.at, "at")
    consent = decision.consent
    with write_tx(conn):
        check_decision(_stored(conn, request_id), decision)
        values = (
            decision.state,
            decision.by,
            at_us,
            decision.granted_seconds,
            decision.deny_reason,
            None if consent is None else consent.id,
        )
        row = conn.execute(_DECIDE, (*values, request_id, at_us)).fetchone()
        if row is None:
            raise undecidable(_stored(conn, request_id), decision.at)
        if consent is not None:
            add_consent(conn, consent)  # a savepoint of this transaction: both or neither
    return request_from_row(row)


def expire_consent_requests(conn: sqlite3.Connection, at: datetime) -> list[ConsentRequest]:
    """Move every pending request expired at ``at`` to ``expired``; those moved."""
    with write_tx(conn):
        rows = conn.execute(_EXPIRE, (to_micros(at, "at"),)).fetchall()
    return [request_from_row(row) for row in rows]
