"""Consent operations of the SQLite store, run on its worker thread."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from broker.errors import BrokerError, ConflictError, InputError, NotFoundError
from broker.models import Consent
from broker.store.base import Revoked
from broker.store.checks import check_new_consent
from broker.store.encoding import to_micros
from broker.store.sqlite.codec import CONSENT_COLUMNS, consent_from_row
from broker.store.sqlite.tx import insert_once, revoke_live, write_tx
from broker.typing import ConsentId, StaffId, TicketId

# S608 below: only the fixed column lists from codec are interpolated; values are bound.
_ADD = f"""
INSERT INTO consents ({CONSENT_COLUMNS})
SELECT :id, :org_id, :ticket_id, :staff_id, :granted_by, :created_at, :expires_at, :revoked_at,
       :waives_eea_only
WHERE EXISTS (SELECT 1 FROM tickets WHERE id = :ticket_id AND org_id = :org_id)
  AND EXISTS (SELECT 1 FROM staff WHERE id = :staff_id)
"""  # noqa: S608
_GET = f"SELECT {CONSENT_COLUMNS} FROM consents WHERE id = ?"  # noqa: S608
_LIST = (
    f"SELECT {CONSENT_COLUMNS} FROM consents WHERE ticket_id = ? ORDER BY created_at DESC, id DESC"  # noqa: S608
)
_VALID = (
    f"SELECT {CONSENT_COLUMNS} FROM consents WHERE ticket_id = ? AND staff_id = ?"  # noqa: S608
    " AND revoked_at IS NULL AND expires_at > ? ORDER BY expires_at DESC, id DESC LIMIT 1"
)
_REVOKE = (
    f"UPDATE consents SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"  # noqa: S608
    f" RETURNING {CONSENT_COLUMNS}"
)
_TICKET_ORG = "SELECT org_id FROM tickets WHERE id = ?"


def add_consent(conn: sqlite3.Connection, consent: Consent) -> Consent:
    """Store a new consent for an existing ticket of its org and existing staff."""
    check_new_consent(consent)
    revoked = None if consent.revoked_at is None else to_micros(consent.revoked_at, "revoked_at")
    params = {
        "id": consent.id,
        "org_id": consent.org_id,
        "ticket_id": consent.ticket_id,
        "staff_id": consent.staff_id,
        "granted_by": consent.granted_by,
        "created_at": to_micros(consent.created_at, "created_at"),
        "expires_at": to_micros(consent.expires_at, "expires_at"),
        "revoked_at": revoked,
        "waives_eea_only": int(consent.waives_eea_only),
    }
    with write_tx(conn):
        insert_once(
            conn,
            _ADD,
            params,
            taken=lambda: ConflictError(
                "consent_exists", "the consent id is taken", consent_id=consent.id
            ),
            refused=lambda: _why_not_added(conn, consent),
        )
    return consent


def _why_not_added(conn: sqlite3.Connection, consent: Consent) -> BrokerError:
    missing = missing_for(conn, consent.ticket_id, consent.org_id, consent.staff_id)
    return missing or ConflictError("consent_race", "the consent's records changed meanwhile")


def missing_for(
    conn: sqlite3.Connection, ticket_id: str, org_id: str, staff_id: str
) -> BrokerError | None:
    """Why a record naming this ticket of ``org_id`` and this staff member cannot be
    stored (unknown ticket, another org's ticket, unknown staff), or None."""
    row = conn.execute(_TICKET_ORG, (ticket_id,)).fetchone()
    if row is None:
        return NotFoundError("ticket_not_found", "unknown ticket", ticket_id=ticket_id)
    if row[0] != org_id:
        return InputError("org_id", "is not the ticket's org")
    if conn.execute("SELECT 1 FROM staff WHERE id = ?", (staff_id,)).fetchone() is None:
        return NotFoundError("staff_not_found", "unknown staff member", staff_id=staff_id)
    return None


def get_consent(conn: sqlite3.Connection, consent_id: ConsentId) -> Consent:
    """The consent, or ``NotFoundError``."""
    row = conn.execute(_GET, (consent_id,)).fetchone()
    if row is None:
        raise _unknown(consent_id)
    return consent_from_row(row)


def list_consents(conn: sqlite3.Connection, ticket_id: TicketId) -> list[Consent]:
    """The ticket's consents, newest first; ``NotFoundError`` for an unknown ticket."""
    rows = conn.execute(_LIST, (ticket_id,)).fetchall()
    # Tickets are never deleted, so checking only when empty is race-free.
    if not rows and conn.execute(_TICKET_ORG, (ticket_id,)).fetchone() is None:
        raise NotFoundError("ticket_not_found", "unknown ticket", ticket_id=ticket_id)
    return [consent_from_row(row) for row in rows]


def valid_consent(
    conn: sqlite3.Connection, ticket_id: TicketId, staff_id: StaffId, at: datetime
) -> Consent | None:
    """The unrevoked consent for the pair valid at ``at`` that expires last."""
    row = conn.execute(_VALID, (ticket_id, staff_id, to_micros(at, "at"))).fetchone()
    return None if row is None else consent_from_row(row)


def revoke_consent(
    conn: sqlite3.Connection, consent_id: ConsentId, at: datetime
) -> Revoked[Consent]:
    """Revoke once, and in the same transaction every live session it allowed."""
    at_us = to_micros(at, "at")
    with write_tx(conn):
        rows = conn.execute(_REVOKE, (at_us, consent_id)).fetchall()
        if not rows:
            get_consent(conn, consent_id)
            raise ConflictError(
                "consent_revoked", "the consent is already revoked", consent_id=consent_id
            )
        sessions = revoke_live(conn, "consent_id", consent_id, "consent_revoked", at_us)
    return Revoked(consent_from_row(rows[0]), sessions)


def _unknown(consent_id: str) -> NotFoundError:
    return NotFoundError("consent_not_found", "unknown consent", consent_id=consent_id)
