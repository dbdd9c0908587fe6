"""Console sessions, sign-in links and logins in the DynamoDB store (run on its threads).

One item per record, keyed by the digest of its secret (the secret itself is
never stored). Using a record is a conditional update (its kind, not ended,
not expired and, for a session, seen within the idle bound); when it is
cancelled, a consistent read says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from broker.aws.dynamodb.codec import Item, Key, opt_time
from broker.aws.dynamodb.table import Table
from broker.aws.dynamodb.tx import Tx, put_new, retrying
from broker.errors import BrokerError, ConflictError
from broker.models import ConsoleSession
from broker.store.checks import check_new_console_session, console_unusable
from broker.store.encoding import from_micros, to_micros
from broker.typing import ConsoleKind, TokenDigest

_LIVE = "#kind = :kind AND attribute_not_exists(#ended_at) AND #expires_at > :at"


def console_key(digest: str) -> Key:
    """The record's key."""
    return (f"CONSOLE#{digest}", "CONSOLE")


def _record(item: Item) -> ConsoleSession:
    return ConsoleSession(
        digest=TokenDigest(item["digest"]),
        kind=item["kind"],
        subject=item["subject"],
        role=item["role"],
        org=item.get("org"),
        created_at=from_micros(int(item["created_at"])),
        expires_at=from_micros(int(item["expires_at"])),
        last_seen_at=from_micros(int(item["last_seen_at"])),
        data=item["data"],
        ended_at=opt_time(item, "ended_at"),
    )


def add_console_session(table: Table, record: ConsoleSession) -> None:
    """Put a new record; a known digest is a conflict."""
    check_new_console_session(record)
    item = {
        "digest": record.digest,
        "kind": record.kind,
        "subject": record.subject,
        "role": record.role,
        "org": record.org,
        "data": record.data,
        "created_at": to_micros(record.created_at, "created_at"),
        "expires_at": to_micros(record.expires_at, "expires_at"),
        "last_seen_at": to_micros(record.last_seen_at, "last_seen_at"),
    }

    put_new(
        table,
        console_key(record.digest),
        item,
        ConflictError("console_session_exists", "the digest is known already"),
    )


def touch_console_session(
    table: Table, digest: TokenDigest, kind: ConsoleKind, at: datetime, idle_since: datetime
) -> ConsoleSession:
    """Mark the record seen at ``at`` if live and seen after ``idle_since``; else why not."""
    at_us, idle_us = to_micros(at, "at"), to_micros(idle_since, "idle_since")
    cond = f"{_LIVE} AND #last_seen_at > :idle"
    values = {"kind": kind, "at": at_us, "idle": idle_us}
    return _update(table, digest, (cond, values), {"last_seen_at": at_us}, (at, idle_since))


def end_console_session(
    table: Table, digest: TokenDigest, kind: ConsoleKind, at: datetime
) -> ConsoleSession:
    """End the live record once (a link or login used, a session signed out); else why not."""
    at_us = to_micros(at, "at")
    values = {"kind": kind, "at": at_us}
    return _update(table, digest, (_LIVE, values), {"ended_at": at_us}, (at, None))


def _update(
    table: Table,
    digest: TokenDigest,
    condition: tuple[str, Mapping[str, object]],
    sets: Mapping[str, object],
    when: tuple[datetime, datetime | None],
) -> ConsoleSession:
    """Apply ``sets`` under ``condition``; when it fails, the reason at ``when`` (at, idle)."""
    key = console_key(digest)
    cond, values = condition

    def attempt() -> ConsoleSession:
        tx = Tx(table)
        tx.update(key, cond=cond, **values)
        tx.set(key, **sets)
        tx.commit()
        item = table.get(key)
        assert item is not None  # just updated; records are never deleted
        return _record(item)

    def explain() -> BrokerError:
        found = table.get(key)
        return console_unusable(None if found is None else _record(found), *when)

    return retrying(table, attempt, explain)
