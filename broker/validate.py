"""Input validation shared by the API and file imports.

Small, explicit parsers over decoded JSON: each names the offending field in
its ``InputError`` and never echoes the value (it may be personal data).
Unknown keys are errors, so a typo cannot silently change a request.

Personal data has no field of its own, so every field that reaches the store,
a certificate, a log line or the audit trail is validated as what it is:

* ids (``identifier``), token subjects and orgs included: ``IDENTIFIER``, and
  nothing the redactor reads as a phone number or an email address;
* a target's ``host`` (``hostname``): a DNS name or an IP address, likewise;
* OpenSSH key lines (a target's ``host_key``): ``<type> <base64>``; the key's
  comment, free text, is dropped;
* request ids (``request_id``): ``REQUEST_ID``, else replaced.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from broker.audit.redact import holds_personal_data
from broker.errors import InputError

T = TypeVar("T")
MAX_ID_LENGTH = 128
IDENTIFIER = re.compile(r"(?=.*[A-Za-z0-9])[A-Za-z0-9_.:-]{1,128}")
"""An id, a token's ``sub`` and ``org``: 1-128 of ``A-Z a-z 0-9 - _ . :``, at least one
a letter or digit (so never ``..``), and not
readable as a phone number or an email address (so no name with a space, no
``@``, no ``+``)."""
REQUEST_ID = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|[0-9A-Fa-f]{32,64}"
)
"""An ``X-Request-Id`` we keep: a UUID or 32-64 hex digits (what proxies generate).
Anything else is replaced by a fresh UUID, never logged."""
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_KEY_TYPE = re.compile(r"[a-z0-9@.-]{1,64}")


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
    """An id matching ``IDENTIFIER``: printable ASCII without spaces or slashes.

    Ids travel into certificate key ids, file names and audit records raw, so
    they are kept to a safe alphabet here once rather than escaped everywhere
    later, and an id that reads as a phone number is refused, not stored."""
    text = string(value, name)
    if not IDENTIFIER.fullmatch(text):
        raise InputError(name, "must be 1-128 characters of A-Z a-z 0-9 - _ . :")
    _no_personal_data(text, name)
    return text


def hostname(value: Any, name: str) -> str:
    """A DNS host name (RFC 1123 labels) or an IP address, nothing else."""
    text = string(value, name)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    labels = text.removesuffix(".").split(".")
    if len(text) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InputError(name, "must be a host name or an IP address")
    _no_personal_data(text, name)
    return text


def key_line(value: Any, name: str) -> str:
    """An OpenSSH public key line as ``<type> <base64>``; its comment is dropped.

    A comment is free text (often ``user@laptop``) and no use to the broker."""
    parts = string(value, name).split()
    if len(parts) < 2 or not _KEY_TYPE.fullmatch(parts[0]):
        raise InputError(name, "must be an OpenSSH public key line")
    try:
        base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as error:
        raise InputError(name, "must be an OpenSSH public key line") from error
    return f"{parts[0]} {parts[1]}"


def request_id(value: str | None) -> str | None:
    """``value`` if it is a request id we keep (``REQUEST_ID``), else None."""
    if value is not None and REQUEST_ID.fullmatch(value):
        return value
    return None


def _no_personal_data(text: str, name: str) -> None:
    if holds_personal_data(text):
        raise InputError(name, "must not be a phone number or an email address")


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
