"""Input validation shared by the API and file imports.

Small, explicit parsers over decoded JSON: each names the offending field in
its ``InputError`` and never echoes the value (it may be personal data).
Unknown keys are errors, so a typo cannot silently change a request.

The parsers validate to the domain the rest of the broker can represent, so
nothing accepted here can fail deeper in: integers are ASCII digits within
stated bounds (``str.isdigit`` also accepts digits ``int`` refuses, and
``int`` accepts digits of every script), and times are RFC 3339 with years
1970-8999 as written, so converting them to UTC can never overflow. The
OpenAPI document states the same rules from the same patterns.

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
from datetime import UTC, datetime
from typing import Any, TypeVar

from broker.audit.redact import holds_personal_data
from broker.errors import InputError

T = TypeVar("T")
MAX_ID_LENGTH = 128
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
"""An id, a token's ``sub`` and ``org``: 1-128 of ``A-Z a-z 0-9 - _ . :``, a letter or
digit first (so never ``..`` nor ``-option``), and not readable as a phone number or
an email address (so no name with a space, no ``@``, no ``+``)."""
ID_PATTERN = f"^{IDENTIFIER.pattern}$"
"""``IDENTIFIER`` for the OpenAPI document (JSON Schema patterns are not anchored)."""
_TWO = r"(?:[01][0-9]|2[0-3])"
TIME_PATTERN = (
    r"^(?:19[7-9][0-9]|[2-8][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    rf"T{_TWO}:[0-5][0-9]:[0-5][0-9](?:\.[0-9]{{1,6}})?(?:Z|[+-]{_TWO}:[0-5][0-9])$"
)
"""RFC 3339 with an offset and a year from 1970 to 8999 as written: every such time
is representable in UTC (so no offset can overflow a conversion), and far from the
end of ``datetime`` (so adding a lifetime or a window cannot either)."""
_TIME = re.compile(TIME_PATTERN)
_DIGITS = re.compile(r"[0-9]{1,19}")
_ASCII_SIGNED = re.compile(r"-?[0-9]{1,19}")
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


MAX_TEXT = 500
"""The longest free text a person may write into a record (a consent request's reason)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def text(value: Any, name: str) -> str:
    """Free text a person wrote: at most ``MAX_TEXT`` characters, not only white space,
    no control characters but newline and tab; returned trimmed. The caller
    pseudonymises it before storing it, and never logs or audits it."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(name, "must hold a character other than white space")
    if len(value) > MAX_TEXT:
        raise InputError(name, f"must be at most {MAX_TEXT} characters")
    trimmed = value.strip()
    if _CONTROL.search(trimmed):
        raise InputError(name, "must not contain control characters")
    return trimmed


def identifier(value: Any, name: str) -> str:
    """An id matching ``IDENTIFIER``: printable ASCII without spaces or slashes.

    Ids travel into certificate key ids, file names and audit records raw, so
    they are kept to a safe alphabet here once rather than escaped everywhere
    later, and an id that reads as a phone number is refused, not stored."""
    text = string(value, name)
    if not IDENTIFIER.fullmatch(text):
        raise InputError(
            name, "must be 1-128 characters of A-Z a-z 0-9 - _ . :, a letter or digit first"
        )
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
    """An RFC 3339 time with a UTC offset (``TIME_PATTERN``), returned in UTC.

    Naive times are refused (their zone is a guess); so is any year outside
    1970-8999 as written, which keeps every accepted time representable."""
    if not isinstance(value, str) or _TIME.fullmatch(value) is None:
        raise InputError(name, _TIME_RULE)
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError as error:  # a day the month does not have
        raise InputError(name, _TIME_RULE) from error


_TIME_RULE = "must be an RFC 3339 time with an offset (e.g. 2026-11-25T10:00:00Z), year 1970-8999"


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
