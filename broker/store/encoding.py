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
from broker.validate import digits, identifier

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CURSOR_VERSION = "1"
_SIGNED_LIMIT = 1 << 63
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
_MIN_MICROS = (_EARLIEST - EPOCH) // _MICROSECOND
_MAX_MICROS = (_LATEST - EPOCH) // _MICROSECOND


def to_micros(value: datetime, field: str) -> int:
    """``value`` as UTC microseconds; naive datetimes are refused, not guessed.

    So are times ``from_micros`` could not turn back into a datetime (an
    offset that pushes them past ``datetime.min`` or ``max`` in UTC): a row
    nothing could read must not be written."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(field, "must carry a UTC offset")
    micros = (value - EPOCH) // _MICROSECOND
    if not _MIN_MICROS <= micros <= _MAX_MICROS:
        raise InputError(field, "is outside the representable range")
    return micros


def from_micros(value: int) -> datetime:
    """The aware UTC datetime for stored microseconds.

    A row written before ``to_micros`` refused unrepresentable times may hold
    one (a consent "until 9999-12-31T23:59:59-23:59"): it reads as the
    nearest representable time, which means the same (never, or always), so
    every read of it, and the revocation that removes it, still work."""
    if _MIN_MICROS <= value <= _MAX_MICROS:
        return EPOCH + timedelta(microseconds=value)
    return _LATEST if value > _MAX_MICROS else _EARLIEST


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
        if version != _CURSOR_VERSION:
            raise ValueError(version)
        # the store compares both in SQL: a 64-bit integer and an id, or nothing
        return digits(created_at, "cursor", -_SIGNED_LIMIT, _SIGNED_LIMIT - 1), identifier(
            session_id, "cursor"
        )
    except (binascii.Error, UnicodeDecodeError, ValueError, InputError) as exc:
        raise InputError("cursor", "is not a cursor this store issued") from exc
