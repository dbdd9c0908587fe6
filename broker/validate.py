"""Input validation shared by the API and file imports.

Small, explicit parsers over decoded JSON: each names the offending field in
its ``InputError`` and never echoes the value (it may be personal data).
Unknown keys are errors, so a typo cannot silently change a request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from broker.errors import InputError

T = TypeVar("T")
MAX_ID_LENGTH = 128


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
    """An ISO 8601 time that carries a UTC offset; naive times are refused."""
    if not isinstance(value, str):
        raise InputError(name, "must be an ISO 8601 string with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise InputError(name, "is not a valid ISO 8601 time") from error
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InputError(name, "must include a UTC offset (e.g. Z or +01:00)")
    return parsed


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
