"""Revoking the live sessions that depend on a record, inside the record's transaction.

A ticket, staff member or consent keeps the ids of its live sessions in a
``live`` set. The cascade reads that set and the sessions (consistently),
adds to the transaction one conditional revocation per live session, removes
each from the ``live`` sets of all three records it depends on, and makes the
record's own update conditional on its ``ver`` being what was read.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from broker.aws.dynamodb.codec import (
    Item,
    Key,
    consent_key,
    session_from_item,
    session_key,
    staff_key,
    ticket_key,
)
from broker.aws.dynamodb.table import Table
from broker.aws.dynamodb.tx import Tx, retrying
from broker.models import Session
from broker.store.encoding import from_micros
from broker.typing import LIVE_SESSION_STATES, SessionState

CHUNK = 15
"""Sessions revoked per transaction: each costs up to five of its 100 items."""
LIVE_COND = "#state IN (:issued, :connected)"
LIVE_VALUES: dict[str, Any] = {"issued": "issued", "connected": "connected"}


def guard(tx: Tx, key: Key, record: Item) -> None:
    """Make the transaction conditional on ``record`` not having changed since read."""
    if "ver" in record:
        tx.update(key, cond="#ver = :ver", ver=record["ver"])
    else:
        tx.update(key, cond="attribute_not_exists(#ver)")


def live_sessions(table: Table, record: Item) -> list[Item]:
    """The live sessions listed in ``record``'s ``live`` set, read consistently."""
    ids = sorted(record.get("live") or ())
    found = table.get_many([session_key(i) for i in ids])
    items = [found.get(session_key(i)) for i in ids]
    return [i for i in items if i is not None and i["state"] in LIVE_SESSION_STATES]


def dependencies(item: Item) -> list[Key]:
    """The records whose ``live`` set holds this session."""
    keys = [ticket_key(item["ticket_id"]), staff_key(item["staff_id"])]
    if item.get("consent_id"):
        keys.append(consent_key(item["consent_id"]))
    return keys


def end_in(tx: Tx, item: Item, state: SessionState, reason: str, at_us: int) -> Session:
    """End one live session in ``tx``: conditional on it still being live."""
    key = session_key(item["id"])
    rev = tx.log_change(item["region"], item["id"])
    tx.update(key, cond=LIVE_COND, **LIVE_VALUES)
    tx.set(key, state=state, ended_at=at_us, end_reason=reason, rev=rev)
    for record in dependencies(item):
        tx.unlink(record, item["id"])
    ended = session_from_item(item)
    return dataclasses.replace(ended, state=state, ended_at=from_micros(at_us), end_reason=reason)


def revoke_all(tx: Tx, items: list[Item], reason: str, at_us: int) -> list[Session]:
    """Revoke every session of ``items`` in ``tx``; the revoked sessions, by id."""
    return [end_in(tx, item, "revoked", reason, at_us) for item in items]


def revoke_rest(table: Table, items: list[Item], reason: str, at_us: int) -> list[Session]:
    """Revoke sessions beyond the first transaction's share, ``CHUNK`` at a time.

    Runs after the record's own change committed, so no new session can join
    them; a crash in between leaves sessions that the next cascade or the
    gateway's expiry still ends (documented limit of the 100-item transaction).
    """
    revoked: list[Session] = []
    for start in range(0, len(items), CHUNK):
        ids = [str(i["id"]) for i in items[start : start + CHUNK]]
        revoked += retrying(table, functools.partial(_revoke_ids, table, ids, reason, at_us), _none)
    return revoked


def _revoke_ids(table: Table, ids: list[str], reason: str, at_us: int) -> list[Session]:
    found = table.get_many([session_key(i) for i in ids])
    live = [v for v in found.values() if v["state"] in LIVE_SESSION_STATES]
    tx = Tx(table)
    revoked = revoke_all(tx, sorted(live, key=lambda i: str(i["id"])), reason, at_us)
    tx.commit()
    return revoked


def _none() -> None:
    return None
