"""Records <-> DynamoDB items for the DynamoDB store, and the table's schema.

One table, string keys ``pk``/``sk``. Items:

==========================  ===============  =============================================
pk                          sk               what
==========================  ===============  =============================================
``ORG#<org>``               ``ORG``          region, tier and the org's flags (``org_item``)
``ORG#<org>``               ``TARGET#<n>``   a target of the org
``STAFF#<id>``              ``STAFF``        country, active; ``live`` set, ``ver``
``TICKET#<id>``             ``TICKET``       org_id, severity, scope, status; ``live``, ``ver``
``CONSENT#<id>``            ``CONSENT``      the consent; ``live``, ``ver``
``SESSION#<id>``            ``SESSION``      the session, with ``rev`` (its last change)
``SERIAL#<n>``              ``SERIAL``       claims a certificate serial for one session
``REV#<region>``            ``REV``          ``value``: the region's revision counter
``CHANGES#<region>``        ``<rev:020>``    ``sid``: the session changed at that revision
==========================  ===============  =============================================

``live`` is the string set of the ids of live sessions that depend on the
record and ``ver`` counts its changes: a cascade reads both, and its
transaction is conditional on ``ver`` being unchanged, so a session created
in between makes the cascade retry rather than miss it. Every read the
transactions rely on is a consistent ``GetItem`` or a query of the main table.

GSIs (projection ALL) serve listings only, which may lag on real DynamoDB:
``by_kind`` (``kind``, ``ksk``): all staff by id and all sessions by time;
``by_ticket`` (``gt``, ``gsk``): ``S#<ticket>`` sessions, ``C#<ticket>`` consents;
``by_staff`` (``gs``, ``gsk``): sessions of a staff member.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from broker.models import Consent, Org, Session, Staff, Target, Ticket
from broker.store.encoding import from_micros, to_micros
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

Item = dict[str, Any]
Key = tuple[str, str]
_SORT_OFFSET = 1 << 62  # keeps pre-1970 micros non-negative in fixed-width sort keys

TABLE_SCHEMA: dict[str, Any] = {
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("pk", "sk", "kind", "ksk", "gt", "gs", "gsk")
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": hash_key, "KeyType": "HASH"},
                {"AttributeName": range_key, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for name, hash_key, range_key in (
            ("by_kind", "kind", "ksk"),
            ("by_ticket", "gt", "gsk"),
            ("by_staff", "gs", "gsk"),
        )
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
"""``CreateTable`` arguments (without ``TableName``); infra/ declares the same."""


def org_key(org_id: str) -> Key:
    """The org item's key."""
    return (f"ORG#{org_id}", "ORG")


def target_key(org_id: str, name: str) -> Key:
    """The target item's key (in its org's partition)."""
    return (f"ORG#{org_id}", f"TARGET#{name}")


def staff_key(staff_id: str) -> Key:
    """The staff item's key."""
    return (f"STAFF#{staff_id}", "STAFF")


def ticket_key(ticket_id: str) -> Key:
    """The ticket item's key."""
    return (f"TICKET#{ticket_id}", "TICKET")


def consent_key(consent_id: str) -> Key:
    """The consent item's key."""
    return (f"CONSENT#{consent_id}", "CONSENT")


def session_key(session_id: str) -> Key:
    """The session item's key."""
    return (f"SESSION#{session_id}", "SESSION")


def serial_key(serial: int) -> Key:
    """The item claiming a certificate serial."""
    return (f"SERIAL#{serial}", "SERIAL")


def counter_key(region: str) -> Key:
    """The region's revision counter."""
    return (f"REV#{region}", "REV")


def change_key(region: str, rev: int) -> Key:
    """The change-log entry of ``rev`` in ``region``."""
    return (f"CHANGES#{region}", f"{rev:020d}")


def time_sort(created_us: int, record_id: str) -> str:
    """A sort key ordering by (time, id) as strings."""
    return f"{created_us + _SORT_OFFSET:020d}#{record_id}"


def opt_time(item: Item, name: str) -> Any:
    """The time in attribute ``name``, or None when the item lacks it."""
    value = item.get(name)
    return None if value is None else from_micros(int(value))


def org_item(org: Org) -> Item:
    """The org's attributes."""
    return {
        "region": org.region,
        "tier": org.tier,
        "record_input": org.record_input,
        "terminal_access": org.terminal_access,
        "require_watch": org.require_watch,
    }


def org_from_item(item: Item, org_id: str) -> Org:
    """An ``Org`` from its item; an item from before a flag has it off."""
    return Org(
        OrgId(org_id),
        Region(item["region"]),
        item["tier"],
        bool(item["record_input"]),
        bool(item.get("terminal_access", False)),
        bool(item.get("require_watch", False)),
    )


def target_item(target: Target) -> Item:
    """The target's attributes (its org and name are in the key)."""
    return {
        "org_id": target.org_id,
        "name": target.name,
        "region": target.region,
        "host": target.host,
        "port": target.port,
        "user": target.user,
        "host_key": target.host_key,
    }


def target_from_item(item: Item) -> Target:
    """A ``Target`` from its item."""
    return Target(
        OrgId(item["org_id"]),
        TargetName(item["name"]),
        Region(item["region"]),
        item["host"],
        int(item["port"]),
        item["user"],
        item.get("host_key"),
    )


def staff_from_item(item: Item) -> Staff:
    """A ``Staff`` from its item."""
    return Staff(StaffId(item["id"]), CountryCode(item["country"]), bool(item["active"]))


def ticket_from_item(item: Item) -> Ticket:
    """A ``Ticket`` from its item."""
    return Ticket(
        TicketId(item["id"]),
        OrgId(item["org_id"]),
        int(item["severity"]),
        item["scope"],
        item["status"],
    )


def consent_item(consent: Consent) -> Item:
    """Every attribute of a new consent item (``live``/``ver`` start empty/absent)."""
    created = to_micros(consent.created_at, "created_at")
    item: Item = {
        "id": consent.id,
        "org_id": consent.org_id,
        "ticket_id": consent.ticket_id,
        "staff_id": consent.staff_id,
        "granted_by": consent.granted_by,
        "created_at": created,
        "expires_at": to_micros(consent.expires_at, "expires_at"),
        "waives_eea_only": consent.waives_eea_only,
        "gt": f"C#{consent.ticket_id}",
        "gsk": time_sort(created, consent.id),
    }
    if consent.revoked_at is not None:
        item["revoked_at"] = to_micros(consent.revoked_at, "revoked_at")
    return item


def consent_from_item(item: Item) -> Consent:
    """A ``Consent`` from its item."""
    return Consent(
        ConsentId(item["id"]),
        OrgId(item["org_id"]),
        TicketId(item["ticket_id"]),
        StaffId(item["staff_id"]),
        Subject(item["granted_by"]),
        from_micros(int(item["created_at"])),
        from_micros(int(item["expires_at"])),
        opt_time(item, "revoked_at"),
        bool(item.get("waives_eea_only", False)),
    )


def session_item(session: Session, rev: int) -> Item:
    """Every attribute of a new session item, with its index keys."""
    created = to_micros(session.created_at, "created_at")
    sort = time_sort(created, session.id)
    item: Item = {
        "id": session.id,
        "org_id": session.org_id,
        "ticket_id": session.ticket_id,
        "staff_id": session.staff_id,
        "target": session.target,
        "region": session.region,
        "basis": session.basis,
        "state": session.state,
        "access": session.access,
        "created_at": created,
        "valid_before": to_micros(session.valid_before, "valid_before"),
        "rev": rev,
        "kind": "session",
        "ksk": sort,
        "gt": f"S#{session.ticket_id}",
        "gs": session.staff_id,
        "gsk": sort,
    }
    for name in ("consent_id", "source_address", "cert_serial"):
        if getattr(session, name) is not None:
            item[name] = getattr(session, name)
    return item


def session_from_item(item: Item) -> Session:
    """A ``Session`` from its item; one from before ``access`` was a terminal session."""
    serial = item.get("cert_serial")
    return Session(
        id=SessionId(item["id"]),
        org_id=OrgId(item["org_id"]),
        ticket_id=TicketId(item["ticket_id"]),
        staff_id=StaffId(item["staff_id"]),
        target=TargetName(item["target"]),
        region=Region(item["region"]),
        basis=item["basis"],
        state=item["state"],
        created_at=from_micros(int(item["created_at"])),
        valid_before=from_micros(int(item["valid_before"])),
        consent_id=item.get("consent_id"),
        source_address=item.get("source_address"),
        cert_serial=None if serial is None else int(Decimal(serial)),
        ended_at=opt_time(item, "ended_at"),
        end_reason=item.get("end_reason"),
        access=item.get("access", "terminal"),
    )
