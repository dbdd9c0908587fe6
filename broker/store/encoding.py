"""Encodings every store shares: times as microseconds, and the opaque page cursor.

Times are stored as integer microseconds since the Unix epoch in UTC: they
compare correctly (in SQL and in DynamoDB keys), cost less than text, and
always come back as aware UTC datetimes.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from broker.errors import InputError
from broker.models import Session

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CURSOR_VERSION = "1"


def to_micros(value: datetime, field: str) -> int:
    """``value`` as UTC microseconds; naive datetimes are refused, not guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(field, "must carry a UTC offset")
    return (value - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """The aware UTC datetime for stored microseconds."""
    return EPOCH + timedelta(microseconds=value)


def newest_first(sessions: list[Session]) -> list[Session]:
    """Sessions in listing order: newest ``created_at`` first, ties by id."""
    return sorted(sessions, key=lambda s: (s.created_at, s.id), reverse=True)


def encode_cursor(created_at: int, session_id: str) -> str:
    """An opaque cursor pointing just after the given session."""
    raw = f"{_CURSOR_VERSION}:{created_at}:{session_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The ``(created_at, id)`` a cursor points after; ``InputError`` if forged."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, created_at, session_id = raw.split(":", 2)
        if version != _CURSOR_VERSION or not session_id:
            raise ValueError(version)
        return int(created_at), session_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InputError("cursor", "is not a cursor this store issued") from exc
