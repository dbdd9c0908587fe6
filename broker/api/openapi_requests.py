"""OpenAPI schemas of consent requests (``broker.api.consent_requests``).

The bounds are the service's own (``broker.service.consent_requests``,
``broker.validate.text``), so a client reading the document sends what the
API takes.
"""

from __future__ import annotations

from typing import Any

from broker.service.consent_requests import MAX_REQUEST_SECONDS, MIN_REQUEST_SECONDS
from broker.typing import CONSENT_REQUEST_STATES
from broker.validate import MAX_TEXT

_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_NULL_STR = {"type": ["string", "null"]}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
_TEXT_INPUT = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TEXT,
    "description": "Free text (not only white space; no control characters but newline and"
    " tab). Phone numbers and emails in it are pseudonymised before it is stored.",
}
_DURATION = {"type": "integer", "minimum": MIN_REQUEST_SECONDS, "maximum": MAX_REQUEST_SECONDS}
CONSENT_REQUEST = {
    "type": "object",
    "properties": {
        "consent_request_id": _STR,
        "org_id": _STR,
        "region": _STR,
        "ticket_id": _STR,
        "staff_id": _STR,
        "staff_country": _STR,
        "duration_seconds": {"type": "integer"},
        "reason": {"type": "string", "description": "as stored: pseudonymised"},
        "state": {"enum": list(CONSENT_REQUEST_STATES)},
        "created_at": _TIME,
        "expires_at": {"type": "string", "format": "date-time", "description": "unanswered by"},
        "decided_by": _NULL_STR,
        "decided_at": _NULL_TIME,
        "granted_seconds": {"type": ["integer", "null"]},
        "deny_reason": _NULL_STR,
        "consent_id": {"type": ["string", "null"], "description": "the consent an approval made"},
        "console_path": {"type": "string", "description": "the request's console page"},
    },
}
CONSENT_REQUEST_SCHEMAS: dict[str, Any] = {
    "NewConsentRequest": {
        "type": "object",
        "example": {"duration_seconds": 7200, "reason": "Reproduce the export failure"},
        "required": ["duration_seconds", "reason"],
        "additionalProperties": False,
        "properties": {"duration_seconds": _DURATION, "reason": _TEXT_INPUT},
    },
    "ConsentRequestRecord": CONSENT_REQUEST,
    "ConsentRequestPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": CONSENT_REQUEST},
            "next_cursor": _NULL_STR,
        },
    },
    "ConsentRequestApproval": {
        "type": "object",
        "example": {"duration_seconds": 3600},
        "additionalProperties": False,
        "properties": {
            "duration_seconds": {
                "anyOf": [_DURATION, {"type": "null"}],
                "description": "at most what was asked (default: as asked)",
            },
            "waives_eea_only": {
                "type": ["boolean", "null"],
                "description": "required (true) where a grant would need it",
            },
        },
    },
    "ConsentRequestDenial": {
        "type": "object",
        "example": {"reason": "Please work this ticket from the EEA team"},
        "required": ["reason"],
        "additionalProperties": False,
        "properties": {"reason": _TEXT_INPUT},
    },
}
"""The consent request bodies and records (``broker.api.consent_requests``)."""
