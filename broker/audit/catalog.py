"""The audit event types and the fields each may carry (an allowlist).

Only listed fields reach the trail; anything else a caller passes is dropped,
so names, descriptions, user agents and upstream error text never get in by
accident. Every kept string is still scrubbed by the region's redactor, and
each field has a kind that says how its value is normalised:

- ``id``: an identifier (session, ticket, org, staff, consent, target ...);
- ``code``: a short machine-readable token (basis, reason, kind, scope ...);
- ``codes``: a list of codes (policy reasons);
- ``ip``: a source address, kept as its canonical text when it parses;
- ``int``: a count (bytes, seconds, records); booleans and others are dropped;
- ``bool``: a setting's value; anything but a boolean is dropped;
- ``time``: an aware datetime, stored as UTC ISO 8601 with ``Z``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from broker import compact_json
from broker.audit.redact import RegionRedactor
from broker.errors import InputError

Kind = Literal["id", "code", "codes", "ip", "int", "bool", "time"]

MAX_STRING = 200
"""Longest string value kept (ids and codes are short; more is a mistake)."""

MAX_CODES = 32

FIELD_KINDS: Mapping[str, Kind] = {
    "session_id": "id",
    "ticket_id": "id",
    "org_id": "id",
    "staff_id": "id",
    "consent_id": "id",
    "target": "id",
    "actor": "id",
    "request_id": "id",
    "gateway": "id",
    "hold": "id",
    "source_ip": "ip",
    "staff_country": "code",
    "basis": "code",
    "scope": "code",
    "tier": "code",
    "effective_tier": "code",
    "role": "code",
    "reason": "code",
    "kind": "code",
    "method": "code",
    "source": "code",
    "key": "code",
    "location": "code",
    "secret": "code",
    "sha256": "code",
    "reasons": "codes",
    "cert_serial": "int",
    "duration_s": "int",
    "requested_s": "int",
    "granted_s": "int",
    "bytes_in": "int",
    "bytes_out": "int",
    "bytes": "int",
    "sessions_ended": "int",
    "records": "int",
    "after_seq": "int",
    "count": "int",
    "interval_seconds": "int",
    "orgs": "int",
    "staff": "int",
    "tickets": "int",
    "targets": "int",
    "consents": "int",
    "old_value": "bool",
    "new_value": "bool",
    "access": "code",
    "waives_eea_only": "bool",
    "expires_at": "time",
    "started_at": "time",
    # Notifications (broker.notify): which delivery, over which channel, how it went.
    "consent_request_id": "id",
    "delivery_id": "id",
    "channel": "code",
    "attempts": "int",
    "status": "int",
    "will_retry": "bool",
}
"""Every field any event may carry, with its kind."""

_REQUEST = ("org_id", "ticket_id", "staff_id", "staff_country", "target", "scope", "tier")
_CALLER = ("actor", "role", "source_ip", "request_id")
_SESSION = ("session_id", "org_id", "ticket_id", "staff_id")
_NOTIFY = ("org_id", "ticket_id", "consent_request_id", "delivery_id", "channel", "attempts")

EVENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "session.requested": (*_REQUEST, *_CALLER),
    "session.denied": (*_REQUEST, "effective_tier", "reasons", *_CALLER),
    "session.issued": (
        "session_id", *_REQUEST, "effective_tier", "basis", "consent_id", "access",
        "cert_serial", "expires_at", *_CALLER,
    ),
    "session.connected": (*_SESSION, "target", "gateway", "source_ip", "access"),
    "egress.blocked": (*_SESSION, "kind", "gateway", "source_ip"),
    "session.closed": (
        *_SESSION, "reason", "started_at", "duration_s", "bytes_in", "bytes_out", "gateway",
    ),
    "session.revoked": (*_SESSION, "consent_id", "reason", *_CALLER),
    "consent.granted": (
        "consent_id", "org_id", "ticket_id", "staff_id", "expires_at", "waives_eea_only",
        *_CALLER,
    ),
    "consent.revoked": (
        "consent_id", "org_id", "ticket_id", "staff_id", "sessions_ended", *_CALLER,
    ),
    "consent.requested": (
        "consent_request_id", "org_id", "ticket_id", "staff_id", "staff_country",
        "requested_s", "expires_at", *_CALLER,
    ),
    "consent.request_approved": (
        "consent_request_id", "org_id", "ticket_id", "staff_id", "consent_id", "requested_s",
        "granted_s", "expires_at", *_CALLER,
    ),
    "consent.request_denied": (
        "consent_request_id", "org_id", "ticket_id", "staff_id", "requested_s", *_CALLER,
    ),
    "consent.request_cancelled": (
        "consent_request_id", "org_id", "ticket_id", "staff_id", *_CALLER,
    ),
    "consent.request_expired": (
        "consent_request_id", "org_id", "ticket_id", "staff_id", "requested_s", "expires_at",
    ),
    "recording.stored": (*_SESSION, "location", "bytes", "sha256", "gateway"),
    "auth.failed": ("reason", "method", "session_id", "count", "interval_seconds", *_CALLER),
    "relay.failed": (*_SESSION, "reason", "gateway"),
    "recording.read": (*_SESSION, *_CALLER),
    "recording.read_refused": (*_SESSION, "reason", *_CALLER),
    "recording.exported": (*_SESSION, "hold", "location", "bytes", "sha256", *_CALLER),
    "recordings.region_mismatch": ("reason", "location", "gateway"),
    "keys.region_mismatch": ("reason", "secret", "location"),
    "import.applied": (
        "source", "orgs", "staff", "tickets", "targets", "consents", *_CALLER,
    ),
    "config.changed": ("key", "source", *_CALLER),
    "org.setting_changed": ("org_id", "key", "old_value", "new_value", "source", *_CALLER),
    "audit.tail_sealed": ("records", "after_seq", "reason"),
    "viewer.link_issued": (*_SESSION, "reason", "expires_at", *_CALLER),
    "viewer.refused": (*_SESSION, "reason", "gateway", *_CALLER),
    "viewer.paste": (*_SESSION, "bytes", "gateway", "source_ip"),
    "viewer.watch_started": (*_SESSION, "actor", "role", "source_ip"),
    "viewer.watch_ended": (*_SESSION, "actor", "role", "reason", "duration_s", "source_ip"),
    "viewer.replay_started": (*_SESSION, "actor", "role", "source_ip"),
    "viewer.replay_ended": (*_SESSION, "actor", "role", "duration_s", "source_ip"),
    "notify.delivered": (*_NOTIFY, "status"),
    "notify.failed": (*_NOTIFY, "status", "reason", "will_retry"),
    # The web console: who signed in (how, as what), signed out, or was refused.
    "console.signed_in": ("org_id", "method", *_CALLER),
    "console.signed_out": ("org_id", "reason", *_CALLER),
    "console.signin_refused": ("method", "reason", "source_ip", "request_id"),
}  # fmt: skip
"""Event type -> the fields it may carry (everything else is dropped)."""

EVENT_TYPES: tuple[str, ...] = tuple(EVENT_FIELDS)

RESERVED = ("seq", "time", "region", "event", "prev", "hash")
"""Keys the trail itself sets; no event field may use them."""


def check_event_type(event_type: str) -> str:
    """Return ``event_type`` if known, else raise ``InputError`` (fail closed)."""
    if event_type not in EVENT_FIELDS:
        raise InputError("event", "unknown audit event type")
    return event_type


def build_fields(
    event_type: str, fields: Mapping[str, Any], redactor: RegionRedactor
) -> dict[str, Any]:
    """The allowlisted, normalised and scrubbed fields of one event, in call order."""
    allowed = _ALLOWED.get(event_type)
    if allowed is None:
        raise InputError("event", "unknown audit event type")
    out: dict[str, Any] = {}
    scrub = redactor.text
    for name, value in fields.items():
        normalise = allowed.get(name)
        if normalise is None or value is None:
            continue
        if normalise is _text and type(value) is str:
            out[name] = scrub(value)[:MAX_STRING]  # inlined _text: most fields go here
            continue
        kept = normalise(value, redactor)
        if kept is not None:
            out[name] = kept
    return out


class _Verbatim:
    """A stand-in redactor for ``check_fields``: redaction cannot fail, encoding can."""

    def text(self, text: str) -> str:
        return text


def check_fields(event_type: str, fields: Mapping[str, Any]) -> None:
    """Raise ``InputError`` unless an event with ``fields`` can be normalised and encoded.

    Writers call this (through ``EventSink.check``) before they change state,
    so that the event they emit after cannot fail on its content: a write and
    its audit record succeed or fail together."""
    try:
        kept = build_fields(event_type, fields, _Verbatim())  # type: ignore[arg-type]
        compact_json.dumps(kept)
    except (OverflowError, ValueError, TypeError) as error:
        raise InputError("event", "cannot be recorded in the audit trail") from error


def _text(value: Any, redactor: RegionRedactor) -> str | None:
    if type(value) is not str:  # exact type: the fast path for nearly every field
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        value = str(value)
    # scrub before cutting, so a cut can never leave half a phone number behind
    return redactor.text(value)[:MAX_STRING]


def _codes(value: Any, redactor: RegionRedactor) -> list[str | None] | None:
    if not isinstance(value, list | tuple):
        return None
    return [_text(item, redactor) for item in value[:MAX_CODES]]


def _int(value: Any, redactor: RegionRedactor) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(value: Any, redactor: RegionRedactor) -> bool | None:
    return value if isinstance(value, bool) else None


def _ip(value: Any, redactor: RegionRedactor) -> str | None:
    if not isinstance(value, str):
        return None
    canonical = _canonical_ip(value)
    return canonical if canonical is not None else _text(value, redactor)


@functools.lru_cache(maxsize=65536)
def _canonical_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def audit_time(value: datetime) -> str | None:
    """A time as the trail stores it; None for a naive one (its zone is unknown: dropped)."""
    return None if value.tzinfo is None else format_time(value)


def _time(value: Any, redactor: RegionRedactor) -> str | None:
    if isinstance(value, datetime):
        return audit_time(value)
    return _text(value, redactor)


_NORMALISERS: Mapping[Kind, Callable[[Any, RegionRedactor], Any]] = {
    "id": _text, "code": _text, "codes": _codes, "int": _int, "bool": _bool, "ip": _ip,
    "time": _time,
}  # fmt: skip
_ALLOWED: Mapping[str, Mapping[str, Callable[[Any, RegionRedactor], Any]]] = {
    event: {name: _NORMALISERS[FIELD_KINDS[name]] for name in names}
    for event, names in EVENT_FIELDS.items()
}


def format_time(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds and a ``Z``: fixed width, so sortable as text."""
    if moment.tzinfo is not UTC:  # the clock's own times are UTC already: skip the convert
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"
