"""Parse import documents ``{orgs, staff, tickets, targets}`` into records.

Used by ``POST /v1/import``, ``broker import FILE`` and the demo data. Every
error names the field by path (``tickets[3].severity``); nothing is stored
until the whole document parsed, and the store writes it in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from broker import validate as v
from broker.errors import InputError
from broker.models import Org, Staff, Target, Ticket
from broker.store.base import ImportBundle
from broker.typing import (
    SCOPES,
    TICKET_STATUSES,
    TIERS,
    CountryCode,
    OrgId,
    Region,
    Scope,
    StaffId,
    TargetName,
    TicketId,
    TicketStatus,
    Tier,
)

R = TypeVar("R")
KINDS = ("orgs", "staff", "tickets", "targets")
MAX_RECORDS = 10_000


def parse_org(data: Mapping[str, Any], at: str) -> Org:
    """One org: ``{id, region, tier, record_input?, terminal_access?, require_watch?}``.

    An absent flag takes its default (``record_input`` on, ``terminal_access``
    and ``require_watch`` off), on a re-import too: the document states the org whole.
    """
    known = ("id", "region", "tier", "record_input", "terminal_access", "require_watch")
    v.reject_unknown(data, known, at)
    record_input = v.optional(data, "record_input", v.boolean, at)
    terminal = v.optional(data, "terminal_access", v.boolean, at)
    watch = v.optional(data, "require_watch", v.boolean, at)
    return Org(
        id=OrgId(v.field(data, "id", v.identifier, at)),
        region=Region(v.field(data, "region", v.identifier, at)),
        tier=_tier(v.field(data, "tier", v.choice(TIERS), at)),
        record_input=True if record_input is None else record_input,
        terminal_access=terminal is True,
        require_watch=watch is True,
    )


def parse_staff(data: Mapping[str, Any], at: str) -> Staff:
    """One staff member: ``{id, country, active?}``; no names are accepted."""
    v.reject_unknown(data, ("id", "country", "active"), at)
    active = v.optional(data, "active", v.boolean, at)
    return Staff(
        id=StaffId(v.field(data, "id", v.identifier, at)),
        country=CountryCode(v.field(data, "country", country, at)),
        active=True if active is None else active,
    )


def parse_ticket(data: Mapping[str, Any], at: str) -> Ticket:
    """One ticket: ``{id, org_id, severity, scope?, status?}``."""
    v.reject_unknown(data, ("id", "org_id", "severity", "scope", "status"), at)
    return Ticket(
        id=TicketId(v.field(data, "id", v.identifier, at)),
        org_id=OrgId(v.field(data, "org_id", v.identifier, at)),
        severity=v.field(data, "severity", v.bounded(1, 4), at),
        scope=_scope(v.optional(data, "scope", v.choice(SCOPES), at) or "product"),
        status=_status(v.optional(data, "status", v.choice(TICKET_STATUSES), at) or "open"),
    )


def parse_target(data: Mapping[str, Any], at: str) -> Target:
    """One target: ``{org_id, name, region, host, port?, user?, host_key?}``."""
    v.reject_unknown(data, ("org_id", "name", "region", "host", "port", "user", "host_key"), at)
    return Target(
        org_id=OrgId(v.field(data, "org_id", v.identifier, at)),
        name=TargetName(v.field(data, "name", v.identifier, at)),
        region=Region(v.field(data, "region", v.identifier, at)),
        host=v.field(data, "host", v.hostname, at),
        port=v.optional(data, "port", v.bounded(1, 65535), at) or 22,
        user=v.optional(data, "user", v.identifier, at) or "support",
        host_key=v.optional(data, "host_key", v.key_line, at),
    )


def country(value: Any, name: str) -> str:
    """An ISO 3166-1 alpha-2 code shape (membership is the policy's business)."""
    if not (isinstance(value, str) and re.fullmatch("[A-Z]{2}", value)):
        raise InputError(name, "must be an ISO 3166-1 alpha-2 code like DE")
    return value


def parse_bundle(document: Any) -> ImportBundle:
    """The whole import document; every record parsed before anything is kept."""
    data = v.require_mapping(document, "body")
    v.reject_unknown(data, KINDS)
    return ImportBundle(
        orgs=_list(data, "orgs", parse_org),
        staff=_list(data, "staff", parse_staff),
        tickets=_list(data, "tickets", parse_ticket),
        targets=_list(data, "targets", parse_target),
    )


def _list(
    data: Mapping[str, Any], kind: str, parse: Callable[[Mapping[str, Any], str], R]
) -> list[R]:
    """Parse ``data[kind]``, a list of objects, naming each element's path."""
    items = data.get(kind, [])
    if not isinstance(items, list):
        raise InputError(kind, "must be a list")
    if len(items) > MAX_RECORDS:
        raise InputError(kind, f"at most {MAX_RECORDS} records per import")
    return [
        parse(v.require_mapping(item, f"{kind}[{i}]"), f"{kind}[{i}].")
        for i, item in enumerate(items)
    ]


def _tier(value: str) -> Tier:
    return "eea_only" if value == "eea_only" else "standard"


def _scope(value: str) -> Scope:
    return next(s for s in SCOPES if s == value)


def _status(value: str) -> TicketStatus:
    return "closed" if value == "closed" else "open"
