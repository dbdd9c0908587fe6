"""Reference data and consents of the DynamoDB store (synchronous; on the store's threads)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker.aws.dynamodb.cascade import CHUNK, guard, live_sessions, revoke_all, revoke_rest
from broker.aws.dynamodb.codec import (
    Item,
    Key,
    consent_from_item,
    consent_item,
    consent_key,
    org_from_item,
    org_key,
    staff_from_item,
    staff_key,
    target_from_item,
    target_key,
    ticket_from_item,
    ticket_key,
)
from broker.aws.dynamodb.table import Table
from broker.aws.dynamodb.tx import Tx, retrying
from broker.errors import BrokerError, ConflictError, InputError, NotFoundError
from broker.models import Consent, Org, Staff, Target, Ticket
from broker.store.base import Revoked
from broker.store.checks import check_new_consent
from broker.store.encoding import to_micros
from broker.typing import TICKET_STATUSES, ConsentId, OrgId, StaffId, TargetName, TicketId


def _need(table: Table, key: Key, error: BrokerError) -> Item:
    item = table.get(key)
    if item is None:
        raise error
    return item


def _no_org(org_id: str) -> NotFoundError:
    return NotFoundError("org_not_found", "unknown org", org_id=org_id)


def _no_staff(staff_id: str) -> NotFoundError:
    return NotFoundError("staff_not_found", "unknown staff member", staff_id=staff_id)


def _no_ticket(ticket_id: str) -> NotFoundError:
    return NotFoundError("ticket_not_found", "unknown ticket", ticket_id=ticket_id)


def _no_consent(consent_id: str) -> NotFoundError:
    return NotFoundError("consent_not_found", "unknown consent", consent_id=consent_id)


def get_org(table: Table, org_id: OrgId) -> Org:
    """The org, or ``NotFoundError``."""
    return org_from_item(_need(table, org_key(org_id), _no_org(org_id)), org_id)


def get_staff(table: Table, staff_id: StaffId) -> Staff:
    """The staff member, or ``NotFoundError``."""
    return staff_from_item(_need(table, staff_key(staff_id), _no_staff(staff_id)))


def list_staff(table: Table) -> list[Staff]:
    """Every staff member, by id."""
    items = table.query("by_kind", "#kind = :k", {":k": "staff"})
    return sorted((staff_from_item(i) for i in items), key=lambda s: s.id)


def get_ticket(table: Table, ticket_id: TicketId) -> Ticket:
    """The ticket, or ``NotFoundError``."""
    return ticket_from_item(_need(table, ticket_key(ticket_id), _no_ticket(ticket_id)))


def get_target(table: Table, org_id: OrgId, name: TargetName) -> Target:
    """The org's target of that name, or ``NotFoundError``."""
    missing = NotFoundError("target_not_found", "unknown target", org_id=org_id)
    return target_from_item(_need(table, target_key(org_id, name), missing))


@dataclass(frozen=True)
class _Change:
    """A change to one record: its key, what to SET, and the cascade reason if any."""

    key: Key
    missing: BrokerError
    change: dict[str, Any]
    cut: str | None
    cond: str | None = None


def _cascade(table: Table, c: _Change, at_us: int) -> tuple[Item, list[Any]]:
    """Apply the change to a record; when it has a ``cut`` reason, revoke its live sessions."""
    key, missing, change, cut, cond = c.key, c.missing, c.change, c.cut, c.cond

    def attempt() -> tuple[Item, list[Any]]:
        record = _need(table, key, missing)
        tx = Tx(table)
        guard(tx, key, record)
        if cond is not None:
            tx.update(key, cond=cond)
        tx.set(key, **change)
        live = [] if cut is None else live_sessions(table, record)
        revoked = revoke_all(tx, live[:CHUNK], cut or "", at_us)
        tx.commit()
        return {**record, **change}, revoked + revoke_rest(table, live[CHUNK:], cut or "", at_us)

    def explain() -> BrokerError | None:
        record = _need(table, key, missing)
        if cond is not None and "revoked_at" in record:
            return ConflictError("consent_revoked", "the consent is already revoked")
        return None

    result: tuple[Item, list[Any]] = retrying(table, attempt, explain)
    return result


def set_ticket_status(
    table: Table, ticket_id: TicketId, status: Any, at: datetime
) -> Revoked[Ticket]:
    """Set the status; closing revokes the ticket's live sessions in the same transaction."""
    if status not in TICKET_STATUSES:
        raise InputError("status", "must be open or closed")
    at_us = to_micros(at, "at")
    cut = "ticket_closed" if status == "closed" else None
    change = _Change(ticket_key(ticket_id), _no_ticket(ticket_id), {"status": status}, cut)
    record, revoked = _cascade(table, change, at_us)
    return Revoked(ticket_from_item(record), revoked)


def set_staff_active(table: Table, staff_id: StaffId, active: bool, at: datetime) -> Revoked[Staff]:
    """Set ``active``; deactivating revokes the member's live sessions in the same transaction."""
    at_us = to_micros(at, "at")
    cut = None if active else "staff_deactivated"
    change = _Change(staff_key(staff_id), _no_staff(staff_id), {"active": bool(active)}, cut)
    record, revoked = _cascade(table, change, at_us)
    return Revoked(staff_from_item(record), revoked)


def revoke_consent(table: Table, consent_id: ConsentId, at: datetime) -> Revoked[Consent]:
    """Revoke once, and in the same transaction every live session it allowed."""
    at_us = to_micros(at, "at")
    key = consent_key(consent_id)
    record = _need(table, key, _no_consent(consent_id))
    if "revoked_at" in record:
        raise ConflictError(
            "consent_revoked", "the consent is already revoked", consent_id=consent_id
        )
    change = _Change(
        key,
        _no_consent(consent_id),
        {"revoked_at": at_us},
        "consent_revoked",
        "attribute_not_exists(#revoked_at)",
    )
    record, revoked = _cascade(table, change, at_us)
    return Revoked(consent_from_item(record), revoked)


def add_consent(table: Table, consent: Consent) -> Consent:
    """Store a new consent for an existing ticket of its org and existing staff."""
    check_new_consent(consent)
    item = consent_item(consent)

    def attempt() -> Consent:
        tx = Tx(table)
        put_consent(tx, consent, item)
        tx.commit()
        return consent

    return retrying(table, attempt, lambda: why_consent_not_added(table, consent))


def put_consent(tx: Tx, consent: Consent, item: Item) -> None:
    """Add the new consent ``item`` to ``tx``, conditional on its ticket (of its org) and
    staff existing (``why_consent_not_added`` says which failed)."""
    tx.put(consent_key(consent.id), item, "attribute_not_exists(#pk)")
    tx.check(ticket_key(consent.ticket_id), "#org_id = :org", org=consent.org_id)
    tx.check(staff_key(consent.staff_id), "attribute_exists(#pk)")


def missing_for(table: Table, ticket_id: str, org_id: str, staff_id: str) -> BrokerError | None:
    """Why a record naming this ticket of ``org_id`` and this staff member cannot be
    stored (unknown ticket, another org's ticket, unknown staff), or None."""
    ticket = table.get(ticket_key(ticket_id))
    if ticket is None:
        return _no_ticket(ticket_id)
    if ticket["org_id"] != org_id:
        return InputError("org_id", "is not the ticket's org")
    if table.get(staff_key(staff_id)) is None:
        return _no_staff(staff_id)
    return None


def why_consent_not_added(table: Table, consent: Consent) -> BrokerError | None:
    """Why ``put_consent`` failed, or None for a lost race."""
    missing = missing_for(table, consent.ticket_id, consent.org_id, consent.staff_id)
    if missing is not None:
        return missing
    if table.get(consent_key(consent.id)) is not None:
        return ConflictError("consent_exists", "the consent id is taken", consent_id=consent.id)
    return None


def get_consent(table: Table, consent_id: ConsentId) -> Consent:
    """The consent, or ``NotFoundError``."""
    return consent_from_item(_need(table, consent_key(consent_id), _no_consent(consent_id)))


def list_consents(table: Table, ticket_id: TicketId) -> list[Consent]:
    """The ticket's consents, newest first; ``NotFoundError`` for an unknown ticket."""
    items = list(table.query("by_ticket", "#gt = :t", {":t": f"C#{ticket_id}"}, forward=False))
    if not items:
        _need(table, ticket_key(ticket_id), _no_ticket(ticket_id))
    return [consent_from_item(i) for i in items]


def valid_consent(
    table: Table, ticket_id: TicketId, staff_id: StaffId, at: datetime
) -> Consent | None:
    """The unrevoked consent for the pair valid at ``at`` that expires last."""
    at_us = to_micros(at, "at")
    items = table.query("by_ticket", "#gt = :t", {":t": f"C#{ticket_id}"})
    usable = [
        i
        for i in items
        if i["staff_id"] == staff_id and "revoked_at" not in i and int(i["expires_at"]) > at_us
    ]
    if not usable:
        return None
    return consent_from_item(max(usable, key=lambda i: (int(i["expires_at"]), i["id"])))
