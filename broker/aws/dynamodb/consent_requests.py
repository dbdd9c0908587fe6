"""Consent requests in the DynamoDB store (synchronous; run on the store's threads).

One item per request, ``CREQ#<id>``/``CREQ``, listed through the shared
indexes: ``by_kind`` (``consent_request``, by time: all of them, and by org
with a filter), ``by_ticket`` (``R#<ticket>``) and ``by_staff``
(``R#<staff>``; ``#`` is in no id, so these never meet a session's keys).
A decision is one transaction: the conditional update of the request
(pending, unexpired) and, for an approval, the consent's ``Put`` with the
conditions ``add_consent`` puts on it.
"""

from __future__ import annotations

from datetime import datetime

from broker.aws.dynamodb.codec import (
    Item,
    Key,
    consent_item,
    opt_time,
    org_key,
    staff_key,
    ticket_key,
    time_sort,
)
from broker.aws.dynamodb.listing import newest_first
from broker.aws.dynamodb.reference import missing_for, put_consent, why_consent_not_added
from broker.aws.dynamodb.table import Cancelled, Table
from broker.aws.dynamodb.tx import Tx, retrying
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

KIND = "consent_request"


def request_key(request_id: str) -> Key:
    """The request item's key."""
    return (f"CREQ#{request_id}", "CREQ")


def request_item(request: ConsentRequest) -> Item:
    """Every attribute of a new (pending) request item, with its index keys."""
    created = to_micros(request.created_at, "created_at")
    sort = time_sort(created, request.id)
    return {
        "id": request.id,
        "org_id": request.org_id,
        "region": request.region,
        "ticket_id": request.ticket_id,
        "staff_id": request.staff_id,
        "staff_country": request.staff_country,
        "duration_seconds": request.duration_seconds,
        "reason": request.reason,
        "state": "pending",
        "created_at": created,
        "expires_at": to_micros(request.expires_at, "expires_at"),
        "kind": KIND,
        "ksk": sort,
        "gt": f"R#{request.ticket_id}",
        "gs": f"R#{request.staff_id}",
        "gsk": sort,
    }


def request_from_item(item: Item) -> ConsentRequest:
    """A ``ConsentRequest`` from its item, as stored."""
    granted = item.get("granted_seconds")
    return ConsentRequest(
        id=ConsentRequestId(item["id"]),
        org_id=OrgId(item["org_id"]),
        region=Region(item["region"]),
        ticket_id=TicketId(item["ticket_id"]),
        staff_id=StaffId(item["staff_id"]),
        staff_country=CountryCode(item["staff_country"]),
        duration_seconds=int(item["duration_seconds"]),
        reason=item["reason"],
        state=item["state"],
        created_at=from_micros(int(item["created_at"])),
        expires_at=from_micros(int(item["expires_at"])),
        decided_by=None if item.get("decided_by") is None else Subject(item["decided_by"]),
        decided_at=opt_time(item, "decided_at"),
        granted_seconds=None if granted is None else int(granted),
        deny_reason=item.get("deny_reason"),
        consent_id=None if item.get("consent_id") is None else ConsentId(item["consent_id"]),
    )


def add_consent_request(table: Table, request: ConsentRequest) -> ConsentRequest:
    """Put a pending request for an existing ticket of its org (in its region) and staff."""
    check_new_consent_request(request)
    item = request_item(request)

    def attempt() -> ConsentRequest:
        tx = Tx(table)
        tx.put(request_key(request.id), item, "attribute_not_exists(#pk)")
        tx.check(ticket_key(request.ticket_id), "#org_id = :org", org=request.org_id)
        tx.check(org_key(request.org_id), "#region = :region", region=request.region)
        tx.check(staff_key(request.staff_id), "attribute_exists(#pk)")
        tx.commit()
        return request

    return retrying(table, attempt, lambda: _why_not_added(table, request))


def _why_not_added(table: Table, request: ConsentRequest) -> BrokerError | None:
    missing = missing_for(table, request.ticket_id, request.org_id, request.staff_id)
    if missing is not None:
        return missing
    org = table.get(org_key(request.org_id))
    if org is None or org["region"] != request.region:
        return InputError("region", "is not the org's region")
    if table.get(request_key(request.id)) is not None:
        return ConflictError(
            "consent_request_exists", "the request id is taken", consent_request_id=request.id
        )
    return None


def _stored(table: Table, request_id: str) -> ConsentRequest:
    item = table.get(request_key(request_id))
    if item is None:
        raise NotFoundError(
            "consent_request_not_found", "unknown consent request", consent_request_id=request_id
        )
    return request_from_item(item)


def get_consent_request(
    table: Table, request_id: ConsentRequestId, now: datetime
) -> ConsentRequest:
    """The request as of ``now``, or ``NotFoundError``."""
    return _stored(table, request_id).as_of(now)


def list_consent_requests(
    table: Table, query: ConsentRequestQuery, now: datetime
) -> Page[ConsentRequest]:
    """Matching requests as of ``now`` (states as ``ConsentRequest.as_of`` derives them),
    newest first, paginated (an org's through ``by_kind``, filtered)."""
    check_request_query(query)
    if query.ticket_id is not None:
        index, key = "by_ticket", f"R#{query.ticket_id}"
    elif query.staff_id is not None:
        index, key = "by_staff", f"R#{query.staff_id}"
    else:
        index, key = "by_kind", KIND

    def read(item: Item) -> ConsentRequest | None:
        request = request_from_item(item).as_of(now)
        return request if _matches(request, query) else None

    return newest_first(table, index, key, query.cursor, query.limit, read)


def _matches(request: ConsentRequest, query: ConsentRequestQuery) -> bool:
    return all(
        want is None or got == want
        for got, want in (
            (request.org_id, query.org_id),
            (request.ticket_id, query.ticket_id),
            (request.staff_id, query.staff_id),
            (request.state, query.state),
        )
    )


def decide_consent_request(
    table: Table, request_id: ConsentRequestId, decision: ConsentRequestDecision
) -> ConsentRequest:
    """End a pending, unexpired request once; an approval puts its consent with it."""
    at_us = to_micros(decision.at, "at")
    key = request_key(request_id)
    check_decision(_stored(table, request_id), decision)
    consent = decision.consent
    change: Item = {
        "state": decision.state,
        "decided_by": decision.by,
        "decided_at": at_us,
        "granted_seconds": decision.granted_seconds,
        "deny_reason": decision.deny_reason,
        "consent_id": None if consent is None else consent.id,
    }
    change = {k: v for k, v in change.items() if v is not None}

    def attempt() -> ConsentRequest:
        tx = Tx(table)
        tx.update(key, cond="#state = :pending AND #expires_at > :at", pending="pending", at=at_us)
        tx.set(key, **change)
        if consent is not None:
            put_consent(tx, consent, consent_item(consent))
        tx.commit()
        return _stored(table, request_id)

    def explain() -> BrokerError | None:
        stored = _stored(table, request_id)
        if stored.state != "pending" or decision.at >= stored.expires_at:
            return undecidable(stored, decision.at)
        return None if consent is None else why_consent_not_added(table, consent)

    return retrying(table, attempt, explain)


def expire_consent_requests(table: Table, at: datetime) -> list[ConsentRequest]:
    """Move every pending request expired at ``at`` to ``expired``; those this call moved.

    Found through ``by_kind``, up to those created at ``at`` (a request expires
    after it is created); each move is conditional, so a decision or another
    sweep that got there first wins."""
    at_us = to_micros(at, "at")
    cond = "#kind = :h AND #ksk <= :due"
    values = {":h": KIND, ":due": time_sort(at_us, "\uffff")}
    moved: list[ConsentRequest] = []
    for item in table.query("by_kind", cond, values):
        if item["state"] != "pending" or int(item["expires_at"]) > at_us:
            continue
        if _expire_one(table, request_key(item["id"]), at_us):
            moved.append(_stored(table, item["id"]))
    return moved


def _expire_one(table: Table, key: Key, at_us: int) -> bool:
    """Expire one request unless it was decided meanwhile (then False)."""
    tx = Tx(table)
    tx.update(key, cond="#state = :pending AND #expires_at <= :at", pending="pending", at=at_us)
    tx.set(key, state="expired")
    try:
        tx.commit()
    except Cancelled:  # decided, or swept by another broker, meanwhile
        return False
    return True
