"""Session operations of the DynamoDB store (synchronous; run on the store's threads).

Creation is one transaction: the session ``Put`` (only if new) plus
conditional updates that link it into the ``live`` sets of its ticket (open),
staff member (active) and consent (unrevoked, lasting), and condition checks
on the org's region and the target. A cut racing it either commits first (and
the create's condition fails) or sees the session in the ``live`` set.
"""

from __future__ import annotations

from datetime import datetime

from broker.aws.dynamodb.cascade import LIVE_VALUES, end_in
from broker.aws.dynamodb.codec import (
    Item,
    change_key,
    consent_key,
    counter_key,
    org_key,
    serial_key,
    session_from_item,
    session_item,
    session_key,
    staff_key,
    target_key,
    ticket_key,
)
from broker.aws.dynamodb.listing import newest_first
from broker.aws.dynamodb.table import Table
from broker.aws.dynamodb.tx import Tx, retrying
from broker.errors import BrokerError, ConflictError, InputError, NotFoundError, RegionMismatch
from broker.models import Session
from broker.store.base import Page, SessionQuery
from broker.store.checks import check_ending, check_new_session, check_query
from broker.store.encoding import to_micros
from broker.typing import LIVE_SESSION_STATES, Region, SessionId, SessionState


def create_session(table: Table, session: Session) -> Session:
    """Insert an ``issued`` session if the world is still as the policy saw it."""
    check_new_session(session)
    return retrying(
        table, lambda: _create(table, session), lambda: _why_not_created(table, session)
    )


def _create(table: Table, s: Session) -> Session:
    tx = Tx(table)
    rev = tx.log_change(s.region, s.id)
    tx.put(session_key(s.id), session_item(s, rev), "attribute_not_exists(#pk)")
    tx.check(org_key(s.org_id), "#region = :region", region=s.region)
    tx.check(target_key(s.org_id, s.target), "#region = :region", region=s.region)
    tx.link(
        ticket_key(s.ticket_id),
        s.id,
        "#status = :open AND #org_id = :org",
        open="open",
        org=s.org_id,
    )
    tx.link(staff_key(s.staff_id), s.id, "#active = :yes", yes=True)
    if s.consent_id is not None:
        cond = (
            "attribute_not_exists(#revoked_at) AND #ticket_id = :t AND #staff_id = :s"
            " AND #expires_at > :created AND #expires_at >= :vb"
        )
        tx.link(
            consent_key(s.consent_id),
            s.id,
            cond,
            t=s.ticket_id,
            s=s.staff_id,
            created=to_micros(s.created_at, "created_at"),
            vb=to_micros(s.valid_before, "valid_before"),
        )
    if s.cert_serial is not None:
        tx.put(serial_key(s.cert_serial), {"sid": s.id}, "attribute_not_exists(#pk)")
    tx.commit()
    return s


def _why_not_created(table: Table, s: Session) -> BrokerError | None:
    """The lasting reason a create failed, or None when it lost a race worth retrying."""
    for check in (_ticket_problem, _staff_problem, _target_problem, _consent_problem):
        problem = check(table, s)
        if problem is not None:
            return problem
    if table.get(session_key(s.id)) is not None:
        return ConflictError("session_exists", "the session id is taken", session_id=s.id)
    if s.cert_serial is not None and table.get(serial_key(s.cert_serial)) is not None:
        return ConflictError("serial_in_use", "another session has this serial")
    return None


def _ticket_problem(table: Table, s: Session) -> BrokerError | None:
    ticket = table.get(ticket_key(s.ticket_id))
    if ticket is None:
        return NotFoundError("ticket_not_found", "unknown ticket", ticket_id=s.ticket_id)
    if ticket["org_id"] != s.org_id:
        return InputError("org_id", "is not the ticket's org")
    org = table.get(org_key(s.org_id))
    if org is None or org["region"] != s.region:
        return RegionMismatch("region_mismatch", "the session region is not the org's region")
    if ticket["status"] != "open":
        return ConflictError("ticket_closed", "the ticket is closed", ticket_id=s.ticket_id)
    return None


def _staff_problem(table: Table, s: Session) -> BrokerError | None:
    staff = table.get(staff_key(s.staff_id))
    if staff is None:
        return NotFoundError("staff_not_found", "unknown staff member", staff_id=s.staff_id)
    if not staff["active"]:
        return ConflictError("staff_inactive", "the staff member is inactive")
    return None


def _target_problem(table: Table, s: Session) -> BrokerError | None:
    target = table.get(target_key(s.org_id, s.target))
    if target is None:
        return NotFoundError("target_not_found", "unknown target", org_id=s.org_id)
    if target["region"] != s.region:
        return RegionMismatch("region_mismatch", "the target is in another region")
    return None


def _consent_problem(table: Table, s: Session) -> BrokerError | None:
    if s.consent_id is None:
        return None
    item = table.get(consent_key(s.consent_id))
    if item is None:
        return NotFoundError("consent_not_found", "unknown consent", consent_id=s.consent_id)
    if (item["ticket_id"], item["staff_id"]) != (s.ticket_id, s.staff_id):
        return InputError("consent_id", "names another ticket or staff member")
    lasting = int(item["expires_at"]) >= to_micros(s.valid_before, "valid_before")
    if "revoked_at" in item or not lasting:
        return ConflictError(
            "consent_invalid",
            "the consent is revoked, expired or ends before the session",
            consent_id=s.consent_id,
        )
    return None


def get_item(table: Table, session_id: str) -> Item:
    """The session's item, or ``NotFoundError``."""
    item = table.get(session_key(session_id))
    if item is None:
        raise NotFoundError("session_not_found", "unknown session", session_id=session_id)
    return item


def get_session(table: Table, session_id: SessionId, now: datetime) -> Session:
    """The session as of ``now`` (``Session.as_of``), or ``NotFoundError``."""
    return session_from_item(get_item(table, session_id)).as_of(now)


def _not_live(table: Table, session_id: str) -> BrokerError:
    item = get_item(table, session_id)
    state = item["state"] if item["state"] != "issued" else "expired by time"
    return ConflictError("session_not_live", f"the session is {state}", session_id=session_id)


def _live_or_none(table: Table, session_id: str) -> BrokerError | None:
    """A conflict unless the session is still live (then the race is retried)."""
    item = get_item(table, session_id)
    return None if item["state"] in LIVE_VALUES else _not_live(table, session_id)


def end_session(
    table: Table, session_id: SessionId, state: SessionState, reason: str, at: datetime
) -> Session:
    """Live -> ``state`` exactly once; a later call finds it ended."""
    check_ending(state, reason)
    at_us = to_micros(at, "at")

    def attempt() -> Session:
        item = get_item(table, session_id)
        if item["state"] not in LIVE_VALUES:
            raise _not_live(table, session_id)
        tx = Tx(table)
        ended = end_in(tx, item, state, reason, at_us)
        tx.commit()
        return ended

    return retrying(table, attempt, lambda: _live_or_none(table, session_id))


def mark_connected(table: Table, session_id: SessionId, at: datetime) -> Session:
    """``issued`` -> ``connected`` while unexpired; a session connects once."""
    at_us = to_micros(at, "at")

    def attempt() -> Session:
        item = get_item(table, session_id)
        if item["state"] != "issued" or int(item["valid_before"]) <= at_us:
            raise _not_live(table, session_id)
        tx = Tx(table)
        rev = tx.log_change(item["region"], session_id)
        key = session_key(session_id)
        tx.update(key, cond="#state = :issued AND #valid_before > :at", issued="issued", at=at_us)
        tx.set(key, state="connected", rev=rev)
        tx.commit()
        return session_from_item({**item, "state": "connected"})

    def explain() -> BrokerError | None:
        item = get_item(table, session_id)
        return None if item["state"] == "issued" else _not_live(table, session_id)

    return retrying(table, attempt, explain)


def list_sessions(table: Table, query: SessionQuery, now: datetime) -> Page[Session]:
    """Matching sessions as of ``now`` (states as ``Session.as_of`` derives them), newest first."""
    check_query(query)
    if query.ticket_id is not None:
        index, key = "by_ticket", f"S#{query.ticket_id}"
    elif query.staff_id is not None:
        index, key = "by_staff", str(query.staff_id)
    else:
        index, key = "by_kind", "session"

    def read(item: Item) -> Session | None:
        session = session_from_item(item).as_of(now)
        return session if _matches(session, query) else None

    return newest_first(table, index, key, query.cursor, query.limit, read)


def _matches(session: Session, query: SessionQuery) -> bool:
    if query.since is not None and session.created_at < query.since:
        return False
    if query.until is not None and session.created_at >= query.until:
        return False
    return all(
        want is None or got == want
        for got, want in (
            (session.ticket_id, query.ticket_id),
            (session.staff_id, query.staff_id),
            (session.state, query.state),
            (session.org_id, query.org_id),
            (session.region, query.region),
        )
    )


def ended_sessions(table: Table, region: Region, since: int) -> tuple[int, list[Session]]:
    """The region's newest revision and its sessions that ended after ``since``.

    The counter is read first: every revision up to it is committed (they
    commit in order), so the log read after it holds them all.
    """
    counter = table.get(counter_key(region))
    rev = 0 if counter is None else int(counter["value"])
    if rev <= since:
        return rev, []
    low, high = change_key(region, since + 1), change_key(region, rev)
    cond = "#pk = :pk AND #sk BETWEEN :low AND :high"
    values = {":pk": low[0], ":low": low[1], ":high": high[1]}
    ids = list(dict.fromkeys(entry["sid"] for entry in table.query(None, cond, values)))
    found = table.get_many([session_key(i) for i in ids])
    items = [found[session_key(i)] for i in ids if session_key(i) in found]
    items = [i for i in items if i["state"] not in LIVE_SESSION_STATES]
    return rev, [
        session_from_item(i) for i in sorted(items, key=lambda i: (int(i["rev"]), i["id"]))
    ]
