"""Viewer tokens in the SQLite store, run on its worker thread.

Only the token's digest is stored. A claim is one conditional ``UPDATE``
(this region, unclaimed, unexpired); when it matches nothing, a read in the
same transaction says why.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from broker.errors import ConflictError
from broker.models import ViewerToken
from broker.store.checks import check_new_viewer_token, unclaimable
from broker.store.encoding import from_micros, to_micros
from broker.store.sqlite.codec import opt_micros
from broker.store.sqlite.tx import insert_new, write_tx
from broker.typing import Region, SessionId, StaffId, TokenDigest

# S608 below: only the fixed column list is interpolated; values are bound.
_COLUMNS = "digest, session_id, region, staff_id, issued_at, expires_at, claimed_at"
_INSERT = f"INSERT INTO viewer_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL)"  # noqa: S608
_CLAIM = (
    "UPDATE viewer_tokens SET claimed_at = ?"  # noqa: S608
    " WHERE digest = ? AND region = ? AND claimed_at IS NULL AND expires_at > ?"
    f" RETURNING {_COLUMNS}"
)
_GET = f"SELECT {_COLUMNS} FROM viewer_tokens WHERE digest = ?"  # noqa: S608


def _token(row: tuple[str, str, str, str, int, int, int | None]) -> ViewerToken:
    digest, session_id, region, staff_id, issued, expires, claimed = row
    return ViewerToken(
        digest=TokenDigest(digest),
        session_id=SessionId(session_id),
        region=Region(region),
        staff_id=StaffId(staff_id),
        issued_at=from_micros(issued),
        expires_at=from_micros(expires),
        claimed_at=opt_micros(claimed),
    )


def add_viewer_token(conn: sqlite3.Connection, token: ViewerToken) -> None:
    """Insert an unclaimed token; a known digest is a conflict."""
    check_new_viewer_token(token)
    issued, expires = to_micros(token.issued_at, "issued_at"), to_micros(token.expires_at, "x")
    values = (token.digest, token.session_id, token.region, token.staff_id, issued, expires)
    insert_new(
        conn, _INSERT, values, ConflictError("viewer_token_exists", "the token is known already")
    )


def claim_viewer_token(
    conn: sqlite3.Connection, digest: TokenDigest, region: Region, at: datetime
) -> ViewerToken:
    """Claim once, at this region, before expiry; otherwise the reason it failed."""
    at_us = to_micros(at, "at")
    with write_tx(conn):
        row = conn.execute(_CLAIM, (at_us, digest, region, at_us)).fetchone()
        if row is None:
            found = conn.execute(_GET, (digest,)).fetchone()
            raise unclaimable(None if found is None else _token(found), region, at)
    return _token(row)
