"""Conversions between records and SQLite rows.

Times are stored as integer microseconds (``broker.store.encoding``). Rows
are plain tuples in the column order named here, which is cheaper than
``sqlite3.Row`` on the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from broker.errors import InputError
from broker.models import Consent, Org, Session, Staff, Target, Ticket
from broker.store.encoding import from_micros
from broker.typing import (
    ConsentId,
    CountryCode,
    OrgId,
    Region,
    SessionId,
    StaffId,
    Subject,
    TargetName,
    TicketId,
)

_SERIAL_LIMIT = 1 << 64
_SIGNED_LIMIT = 1 << 63

Row = Sequence[Any]

ORG_COLUMNS = "id, region, tier, record_input, terminal_access, require_watch"
STAFF_COLUMNS = "id, country, active"
TICKET_COLUMNS = "id, org_id, severity, scope, status"
TARGET_COLUMNS = "org_id, name, region, host, port, user, host_key"
CONSENT_COLUMNS = (
    "id, org_id, ticket_id, staff_id, granted_by, created_at, expires_at, revoked_at,"
    " waives_eea_only"
)
SESSION_COLUMNS = (
    "id, org_id, ticket_id, staff_id, target, region, basis, state, created_at,"
    " valid_before, consent_id, source_address, cert_serial, ended_at, end_reason, access"
)


def opt_micros(value: int | None) -> datetime | None:
    """``from_micros`` of a nullable column."""
    return None if value is None else from_micros(value)


def serial_to_db(serial: int) -> int:
    """Map an unsigned 64-bit certificate serial onto SQLite's signed integer."""
    if not 0 <= serial < _SERIAL_LIMIT:
        raise InputError("serial", "must be an unsigned 64-bit integer")
    return serial - _SERIAL_LIMIT if serial >= _SIGNED_LIMIT else serial


def serial_from_db(value: int | None) -> int | None:
    """Undo ``serial_to_db``."""
    if value is None:
        return None
    return value + _SERIAL_LIMIT if value < 0 else value


def org_from_row(row: Row) -> Org:
    """An ``Org`` from a row in ``ORG_COLUMNS`` order."""
    return Org(
        id=OrgId(row[0]),
        region=Region(row[1]),
        tier=row[2],
        record_input=bool(row[3]),
        terminal_access=bool(row[4]),
        require_watch=bool(row[5]),
    )


def staff_from_row(row: Row) -> Staff:
    """A ``Staff`` from a row in ``STAFF_COLUMNS`` order."""
    return Staff(id=StaffId(row[0]), country=CountryCode(row[1]), active=bool(row[2]))


def ticket_from_row(row: Row) -> Ticket:
    """A ``Ticket`` from a row in ``TICKET_COLUMNS`` order."""
    return Ticket(
        id=TicketId(row[0]), org_id=OrgId(row[1]), severity=row[2], scope=row[3], status=row[4]
    )


def target_from_row(row: Row) -> Target:
    """A ``Target`` from a row in ``TARGET_COLUMNS`` order."""
    return Target(
        org_id=OrgId(row[0]),
        name=TargetName(row[1]),
        region=Region(row[2]),
        host=row[3],
        port=row[4],
        user=row[5],
        host_key=row[6],
    )


def consent_from_row(row: Row) -> Consent:
    """A ``Consent`` from a row in ``CONSENT_COLUMNS`` order."""
    return Consent(
        id=ConsentId(row[0]),
        org_id=OrgId(row[1]),
        ticket_id=TicketId(row[2]),
        staff_id=StaffId(row[3]),
        granted_by=Subject(row[4]),
        created_at=from_micros(row[5]),
        expires_at=from_micros(row[6]),
        revoked_at=opt_micros(row[7]),
        waives_eea_only=bool(row[8]),
    )


def session_from_row(row: Row) -> Session:
    """A ``Session`` from a row in ``SESSION_COLUMNS`` order."""
    return Session(
        id=SessionId(row[0]),
        org_id=OrgId(row[1]),
        ticket_id=TicketId(row[2]),
        staff_id=StaffId(row[3]),
        target=TargetName(row[4]),
        region=Region(row[5]),
        basis=row[6],
        state=row[7],
        created_at=from_micros(row[8]),
        valid_before=from_micros(row[9]),
        consent_id=None if row[10] is None else ConsentId(row[10]),
        source_address=row[11],
        cert_serial=serial_from_db(row[12]),
        ended_at=opt_micros(row[13]),
        end_reason=row[14],
        access=row[15],
    )
