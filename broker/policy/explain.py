"""What-if records -> explained decisions: the engine of ``broker policy explain``.

A record is one JSON object with the keys in ``KEYS``. Parsing is strict: an
unknown key, a wrong type, a severity outside 1-4, an unparsable time or a time
without an offset is an ``InputError`` naming the field, and ``explain`` turns
it into ``{"id", "error"}``; a decision is never guessed. Values of a known type
but unknown meaning (tier ``gold``, country ``ZZ``) are the policy's to deny.

Still pure: the current time is passed in as ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from broker.errors import InputError
from broker.policy.config import DEFAULT, PolicyConfig
from broker.policy.decide import AccessRequest, ConsentGrant, decide
from broker.policy.windows import support_window
from broker.validate import boolean, timestamp

KEYS = frozenset(
    {
        "id",
        "staff_country",
        "org_region",
        "tier",
        "scope",
        "severity",
        "at",
        "consent_until",
        "ticket_status",
        "staff_active",
        "terminal_access",
        "consent_waives_eea_only",
    }
)
"""Every key a record may have."""

REQUIRED = ("staff_country", "org_region", "tier")


def explain(record: Any, now: datetime, config: PolicyConfig = DEFAULT) -> dict[str, Any]:
    """The output object for one record: the decision and support window, or an error."""
    ident: str | int | None = None
    try:
        ident = _id(record.get("id") if isinstance(record, Mapping) else None)
        request = parse_request(record, now)
    except InputError as error:
        return {"id": ident, "error": error.to_dict()}
    decision = decide(request, config).to_dict()
    del decision["consent_id"]  # a what-if consent has no id
    window = support_window(
        request.tier, request.scope, request.severity, request.at, config.holidays
    )
    return {"id": ident, **decision, "support_window": window.to_dict()}


def parse_request(record: Any, now: datetime) -> AccessRequest:
    """An ``AccessRequest`` from a record, or an ``InputError`` naming the field."""
    if not isinstance(record, Mapping):
        raise InputError("line", "must be a JSON object")
    _check_keys(record)
    until = record.get("consent_until")
    waives = boolean(record.get("consent_waives_eea_only", False), "consent_waives_eea_only")
    return AccessRequest(
        region=_text(record, "org_region", ""),
        tier=_text(record, "tier", ""),
        staff_country=_text(record, "staff_country", ""),
        at=now if "at" not in record else _time("at", record["at"]),
        scope=_text(record, "scope", "product"),
        severity=_severity(record.get("severity", 3)),
        ticket_status=_text(record, "ticket_status", "open"),
        staff_active=boolean(record.get("staff_active", True), "staff_active"),
        consent=None
        if until is None
        else ConsentGrant(_time("consent_until", until), waives_eea_only=waives),
        terminal_access=boolean(record.get("terminal_access", False), "terminal_access"),
    )


def _check_keys(record: Mapping[Any, Any]) -> None:
    """No unknown keys; every required key present."""
    unknown = sorted(str(key) for key in record if key not in KEYS)
    if unknown:
        raise InputError(unknown[0], "is not a known key", code="unknown_field")
    for key in REQUIRED:
        if key not in record:
            raise InputError(key, "is required", code="missing_field")


def _id(value: Any) -> str | int | None:
    """The caller's correlation id: a string, an integer or null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InputError("id", "must be a string, an integer or null")


def _text(record: Mapping[str, Any], key: str, default: str) -> str:
    """A string field (its meaning is the policy's to judge)."""
    value = record.get(key, default)
    if not isinstance(value, str):
        raise InputError(key, "must be a string")
    return value


def _severity(value: Any) -> int:
    """An integer from 1 to 4."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        raise InputError("severity", "must be an integer from 1 to 4")
    return value


def _time(key: str, value: Any) -> datetime:
    """An ISO 8601 time with a UTC offset (the one parser the API uses too)."""
    return timestamp(value, key)
