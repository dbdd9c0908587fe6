"""Viewer tokens in the DynamoDB store (synchronous; run on the store's threads).

One item per token, keyed by its digest (the token itself is never stored).
A claim is a conditional update (this region, unclaimed, unexpired); when it
is cancelled, a consistent read says why.
"""

from __future__ import annotations

from datetime import datetime

from broker.aws.dynamodb.codec import Item, Key, opt_time
from broker.aws.dynamodb.table import Table
from broker.aws.dynamodb.tx import Tx, put_new, retrying
from broker.errors import BrokerError, ConflictError
from broker.models import ViewerToken
from broker.store.checks import check_new_viewer_token, unclaimable
from broker.store.encoding import from_micros, to_micros
from broker.typing import Region, SessionId, StaffId, TokenDigest


def token_key(digest: str) -> Key:
    """The token item's key."""
    return (f"VIEWER#{digest}", "VIEWER")


def _token(item: Item) -> ViewerToken:
    return ViewerToken(
        digest=TokenDigest(item["digest"]),
        session_id=SessionId(item["session_id"]),
        region=Region(item["region"]),
        staff_id=StaffId(item["staff_id"]),
        issued_at=from_micros(int(item["issued_at"])),
        expires_at=from_micros(int(item["expires_at"])),
        claimed_at=opt_time(item, "claimed_at"),
    )


def add_viewer_token(table: Table, token: ViewerToken) -> None:
    """Put an unclaimed token; a known digest is a conflict."""
    check_new_viewer_token(token)
    item = {
        "digest": token.digest,
        "session_id": token.session_id,
        "region": token.region,
        "staff_id": token.staff_id,
        "issued_at": to_micros(token.issued_at, "issued_at"),
        "expires_at": to_micros(token.expires_at, "expires_at"),
    }

    put_new(
        table,
        token_key(token.digest),
        item,
        ConflictError("viewer_token_exists", "the token is known already"),
    )


def claim_viewer_token(
    table: Table, digest: TokenDigest, region: Region, at: datetime
) -> ViewerToken:
    """Claim once, at this region, before expiry; otherwise the reason it failed."""
    at_us = to_micros(at, "at")
    key = token_key(digest)

    def attempt() -> ViewerToken:
        tx = Tx(table)
        cond = "#region = :region AND attribute_not_exists(#claimed_at) AND #expires_at > :at"
        tx.update(key, cond=cond, region=region, at=at_us)
        tx.set(key, claimed_at=at_us)
        tx.commit()
        item = table.get(key)
        assert item is not None  # just claimed; tokens are never deleted
        return _token(item)

    def explain() -> BrokerError:
        found = table.get(key)
        return unclaimable(None if found is None else _token(found), region, at)

    return retrying(table, attempt, explain)
