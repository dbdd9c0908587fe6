"""Reference data of the SQLite store (orgs, staff, tickets, targets), on its worker thread."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from broker.errors import InputError, NotFoundError
from broker.models import Org, Staff, Target, Ticket
from broker.store.base import Revoked
from broker.store.encoding import to_micros
from broker.store.sqlite.codec import (
    ORG_COLUMNS,
    STAFF_COLUMNS,
    TARGET_COLUMNS,
    TICKET_COLUMNS,
    org_from_row,
    staff_from_row,
    target_from_row,
    ticket_from_row,
)
from broker.store.sqlite.tx import revoke_live, write_tx
from broker.typing import TICKET_STATUSES, OrgId, StaffId, TargetName, TicketId, TicketStatus

# S608 below: only the fixed column lists from codec are interpolated; values are bound.
_GET_ORG = f"SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?"  # noqa: S608
_GET_STAFF = f"SELECT {STAFF_COLUMNS} FROM staff WHERE id = ?"  # noqa: S608
_LIST_STAFF = f"SELECT {STAFF_COLUMNS} FROM staff ORDER BY id"  # noqa: S608
_GET_TICKET = f"SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?"  # noqa: S608
_GET_TARGET = f"SELECT {TARGET_COLUMNS} FROM targets WHERE org_id = ? AND name = ?"  # noqa: S608
_SET_STATUS = f"UPDATE tickets SET status = ? WHERE id = ? RETURNING {TICKET_COLUMNS}"  # noqa: S608
_SET_ACTIVE = f"UPDATE staff SET active = ? WHERE id = ? RETURNING {STAFF_COLUMNS}"  # noqa: S608


def get_org(conn: sqlite3.Connection, org_id: OrgId) -> Org:
    """The org, or ``NotFoundError``."""
    row = conn.execute(_GET_ORG, (org_id,)).fetchone()
    if row is None:
        raise NotFoundError("org_not_found", "unknown org", org_id=org_id)
    return org_from_row(row)


def get_staff(conn: sqlite3.Connection, staff_id: StaffId) -> Staff:
    """The staff member, or ``NotFoundError``."""
    row = conn.execute(_GET_STAFF, (staff_id,)).fetchone()
    if row is None:
        raise _unknown_staff(staff_id)
    return staff_from_row(row)


def list_staff(conn: sqlite3.Connection) -> list[Staff]:
    """Every staff member, by id."""
    return [staff_from_row(row) for row in conn.execute(_LIST_STAFF).fetchall()]


def get_ticket(conn: sqlite3.Connection, ticket_id: TicketId) -> Ticket:
    """The ticket, or ``NotFoundError``."""
    row = conn.execute(_GET_TICKET, (ticket_id,)).fetchone()
    if row is None:
        raise _unknown_ticket(ticket_id)
    return ticket_from_row(row)


def get_target(conn: sqlite3.Connection, org_id: OrgId, name: TargetName) -> Target:
    """The org's target of that name, or ``NotFoundError``."""
    row = conn.execute(_GET_TARGET, (org_id, name)).fetchone()
    if row is None:
        raise NotFoundError("target_not_found", "unknown target", org_id=org_id)
    return target_from_row(row)


def set_ticket_status(
    conn: sqlite3.Connection, ticket_id: TicketId, status: TicketStatus, at: datetime
) -> Revoked[Ticket]:
    """Set the status; closing revokes the ticket's live sessions in the same transaction."""
    if status not in TICKET_STATUSES:
        raise InputError("status", "must be open or closed")
    at_us = to_micros(at, "at")
    with write_tx(conn):
        rows = conn.execute(_SET_STATUS, (status, ticket_id)).fetchall()
        if not rows:
            raise _unknown_ticket(ticket_id)
        revoked = (
            revoke_live(conn, "ticket_id", ticket_id, "ticket_closed", at_us)
            if status == "closed"
            else []
        )
    return Revoked(ticket_from_row(rows[0]), revoked)


def set_staff_active(
    conn: sqlite3.Connection, staff_id: StaffId, active: bool, at: datetime
) -> Revoked[Staff]:
    """Set ``active``; deactivating revokes the member's live sessions in the same transaction."""
    at_us = to_micros(at, "at")
    with write_tx(conn):
        rows = conn.execute(_SET_ACTIVE, (int(active), staff_id)).fetchall()
        if not rows:
            raise _unknown_staff(staff_id)
        revoked = (
            [] if active else revoke_live(conn, "staff_id", staff_id, "staff_deactivated", at_us)
        )
    return Revoked(staff_from_row(rows[0]), revoked)


def _unknown_staff(staff_id: str) -> NotFoundError:
    return NotFoundError("staff_not_found", "unknown staff member", staff_id=staff_id)


def _unknown_ticket(ticket_id: str) -> NotFoundError:
    return NotFoundError("ticket_not_found", "unknown ticket", ticket_id=ticket_id)
