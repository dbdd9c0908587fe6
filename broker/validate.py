"""Input validation shared by the API and file imports.

Small, explicit parsers over decoded JSON: each names the offending field in
its ``InputError`` and never echoes the value (it may be personal data).
Unknown keys are errors, so a typo cannot silently change a request.

The parsers validate to the domain the rest of the broker can represent, so
nothing accepted here can fail deeper in: integers are ASCII digits within
stated bounds (``str.isdigit`` also accepts digits ``int`` refuses, and
``int`` accepts digits of every script), and times are aware, converted to
UTC and within ``EARLIEST``..``LATEST`` (an offset near ``datetime.max``
cannot overflow a later conversion).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from broker.errors import InputError

T = TypeVar("T")
MAX_ID_LENGTH = 128
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest time any request may name (the store counts from the Unix epoch)."""
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Times from here on are refused: far beyond any expiry, and far from ``datetime.max``
so that adding a session's lifetime or a support window's days cannot overflow."""
MAX_TIME_LENGTH = 64
_DIGITS = re.compile(r"[0-9]{1,19}")
_ASCII_SIGNED = re.compile(r"-?[0-9]{1,19}")


def require_mapping(value: Any, name: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or an error naming ``name``."""
    if not isinstance(value, dict):
        raise InputError(name, "must be a JSON object")
    return value


def reject_unknown(data: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    """Fail on the first key not in ``allowed``."""
    known = set(allowed)
    for key in data:
        if key not in known:
            raise InputError(f"{prefix}{key}", "unknown field")


def field(
    data: Mapping[str, Any], name: str, parse: Callable[[Any, str], T], prefix: str = ""
) -> T:
    """Parse a required field."""
    if name not in data or data[name] is None:
        raise InputError(f"{prefix}{name}", "is required")
    return parse(data[name], f"{prefix}{name}")


def optional(
    data: Mapping[str, Any], name: str, parse: Callable[[Any, str], T], prefix: str = ""
) -> T | None:
    """Parse an optional field; absent or null gives None."""
    if data.get(name) is None:
        return None
    return parse(data[name], f"{prefix}{name}")


def string(value: Any, name: str) -> str:
    """A non-empty string of bounded length."""
    if not isinstance(value, str) or not value:
        raise InputError(name, "must be a non-empty string")
    if len(value) > 4096:
        raise InputError(name, "is too long")
    return value


def identifier(value: Any, name: str) -> str:
    """An id: printable ASCII without spaces or slashes, at most 128 characters.

    Ids travel into certificate key ids and file names, so they are kept to a
    safe alphabet here once rather than escaped everywhere later."""
    text = string(value, name)
    allowed = text.replace("-", "").replace("_", "").replace(".", "").replace(":", "")
    if len(text) > MAX_ID_LENGTH or not (allowed.isascii() and allowed.isalnum()):
        raise InputError(name, "must be 1-128 characters of A-Z a-z 0-9 - _ . :")
    return text


def integer(value: Any, name: str) -> int:
    """A JSON integer (booleans are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, "must be an integer")
    return value


def boolean(value: Any, name: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise InputError(name, "must be true or false")
    return value


def timestamp(value: Any, name: str) -> datetime:
    """An ISO 8601 time with a UTC offset, as UTC, within ``EARLIEST``..``LATEST``.

    Naive times are refused (their zone is a guess); so are offsets that take
    the time out of the representable range once converted to UTC."""
    if not isinstance(value, str):
        raise InputError(name, "must be an ISO 8601 string with an offset")
    if not value.isascii() or len(value) > MAX_TIME_LENGTH:
        raise InputError(name, "is not a valid ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise InputError(name, "is not a valid ISO 8601 time") from error
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InputError(name, "must include a UTC offset (e.g. Z or +01:00)")
    try:
        moment = parsed.astimezone(UTC)
    except OverflowError as error:
        raise InputError(name, _TIME_RANGE) from error
    if not EARLIEST <= moment < LATEST:
        raise InputError(name, _TIME_RANGE)
    return moment


_TIME_RANGE = "must be from 1970-01-01T00:00:00Z up to (not including) 9000-01-01T00:00:00Z"


def digits(value: Any, name: str, low: int, high: int) -> int:
    """An integer in text: 1-19 ASCII digits (a ``-`` first when ``low`` < 0), in bounds.

    Only ``0-9``: ``str.isdigit`` accepts superscripts ``int`` refuses, and
    ``int`` accepts the digits of every script, which no client should send."""
    pattern = _ASCII_SIGNED if low < 0 else _DIGITS
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InputError(name, f"must be an integer between {low} and {high}")
    number = int(value)
    if not low <= number <= high:
        raise InputError(name, f"must be an integer between {low} and {high}")
    return number


def query_int(params: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    """The optional query parameter ``name`` as ``digits``, or ``default``."""
    return digits(params[name], name, low, high) if name in params else default


def choice(options: Iterable[str]) -> Callable[[Any, str], str]:
    """A parser accepting one of ``options``."""
    allowed = tuple(options)

    def parse(value: Any, name: str) -> str:
        if value not in allowed:
            raise InputError(name, f"must be one of {', '.join(allowed)}")
        return str(value)

    return parse


def bounded(low: int, high: int) -> Callable[[Any, str], int]:
    """A parser accepting an integer in ``[low, high]``."""

    def parse(value: Any, name: str) -> int:
        number = integer(value, name)
        if not low <= number <= high:
            raise InputError(name, f"must be between {low} and {high}")
        return number

    return parse
