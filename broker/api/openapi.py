"""The OpenAPI 3.1 document, generated from the same route table the app serves."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from broker import __version__
from broker.api.routing import Route

_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_NULL_STR = {"type": ["string", "null"]}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}

SESSION = {
    "type": "object",
    "properties": {
        "session_id": _STR,
        "region": _STR,
        "org_id": _STR,
        "ticket_id": _STR,
        "staff_id": _STR,
        "target": _STR,
        "basis": _STR,
        "access": {
            "enum": ["view", "terminal"],
            "description": "view: the region's viewer only; terminal: SSH through the gateway",
        },
        "consent_id": _NULL_STR,
        "state": {"enum": ["issued", "connected", "closed", "revoked", "expired"]},
        "created_at": _TIME,
        "valid_before": _TIME,
        "ended_at": _NULL_TIME,
        "end_reason": _NULL_STR,
        "source_address": _NULL_STR,
    },
}
CONSENT = {
    "type": "object",
    "properties": {
        "consent_id": _STR,
        "org_id": _STR,
        "ticket_id": _STR,
        "staff_id": _STR,
        "granted_by": _STR,
        "created_at": _TIME,
        "expires_at": _TIME,
        "revoked_at": _NULL_TIME,
        "waives_eea_only": {"type": "boolean"},
    },
}
SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details; denials add `reasons`, bad input adds `field`.",
        "properties": {
            "type": _STR,
            "title": _STR,
            "status": {"type": "integer"},
            "detail": _STR,
            "code": _STR,
            "field": _STR,
            "reasons": {"type": "array", "items": _STR},
            "replay": {
                "type": "string",
                "description": "with recording_in_region_only: the replay endpoint to use instead",
            },
        },
    },
    "SessionRequest": {
        "type": "object",
        "required": ["ticket_id", "target"],
        "additionalProperties": False,
        "properties": {
            "ticket_id": _STR,
            "target": _STR,
            "public_key": {
                "type": "string",
                "description": (
                    "OpenSSH public key line: asks for a terminal session (403"
                    " `terminal_not_allowed` where the policy allows the viewer only);"
                    " without it, a view session with no certificate"
                ),
            },
            "ttl_seconds": {"type": "integer", "minimum": 60},
            "source_address": {"type": "string", "description": "CIDR list, comma-separated"},
        },
    },
    "Session": SESSION,
    "SessionPage": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": SESSION}, "next_cursor": _NULL_STR},
    },
    "Grant": {
        "allOf": [
            SESSION,
            {
                "type": "object",
                "properties": {
                    "gateway": {
                        "type": "object",
                        "properties": {"host": _STR, "port": {"type": "integer"}},
                    },
                    "username": _STR,
                    "certificate": {
                        "type": ["string", "null"],
                        "description": "null for a view session",
                    },
                    "ssh_command": _NULL_STR,
                    "viewer_url": {
                        "type": ["string", "null"],
                        "description": "a view session's single-use link (token in the"
                        " fragment, unused for 60 s it expires); null for a terminal",
                    },
                    "viewer_link_expires_at": _NULL_TIME,
                },
            },
        ]
    },
    "ViewerLink": {
        "type": "object",
        "description": "A single-use link to the region's viewer; the token is in the fragment.",
        "properties": {
            "session_id": _STR,
            "region": _STR,
            "viewer_url": _STR,
            "link_expires_at": _TIME,
        },
    },
    "ConsentRequest": {
        "type": "object",
        "required": ["staff_id", "expires_at"],
        "additionalProperties": False,
        "properties": {
            "staff_id": _STR,
            "expires_at": _TIME,
            "waives_eea_only": {
                "type": "boolean",
                "description": (
                    "Required (true) when an eea_only org consents to staff outside the EEA"
                    " on an EEA-only ticket: the explicit waiver of EEA-only support"
                ),
            },
        },
    },
    "Consent": CONSENT,
    "ConsentList": {"type": "object", "properties": {"items": {"type": "array", "items": CONSENT}}},
    "ImportDocument": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            k: {"type": "array", "items": {"type": "object"}}
            for k in ("orgs", "staff", "tickets", "targets")
        },
    },
    "ImportCounts": {
        "type": "object",
        "properties": {
            k: {"type": "integer"}
            for k in ("orgs", "staff", "tickets", "targets", "sessions_revoked")
        },
    },
    "TicketPatch": {
        "type": "object",
        "required": ["status"],
        "additionalProperties": False,
        "properties": {"status": {"enum": ["open", "closed"]}},
    },
    "TicketStatus": {"type": "object", "properties": {"ticket_id": _STR, "status": _STR}},
    "StaffPatch": {
        "type": "object",
        "required": ["active"],
        "additionalProperties": False,
        "properties": {"active": {"type": "boolean"}},
    },
    "StaffStatus": {
        "type": "object",
        "properties": {"staff_id": _STR, "active": {"type": "boolean"}},
    },
    "Routing": {
        "type": "object",
        "properties": {
            "ticket_id": _STR,
            "region": _STR,
            "allowed": {"type": "object", "additionalProperties": {"type": "array", "items": _STR}},
            "needs_consent": {"type": "array", "items": _STR},
            "access": {
                "type": "array",
                "items": {"enum": ["view", "terminal"]},
                "description": "the modes an allowed session on this ticket gets",
            },
            "support_window": {
                "type": "object",
                "properties": {"open_now": {"type": "boolean"}, "next_open": _NULL_TIME},
            },
        },
    },
    "Health": {"type": "object", "properties": {"status": _STR}},
    "LegalHold": {
        "type": "object",
        "required": ["hold"],
        "additionalProperties": False,
        "properties": {"hold": {"type": "string", "description": "the hold's reference (an id)"}},
    },
    "LegalHoldCopy": {
        "type": "object",
        "description": "Where the copy lies in the region's storage; never the recording itself",
        "properties": {
            "session_id": _STR,
            "hold": _STR,
            "location": {"type": "string", "description": "relative to the region's storage"},
            "bytes": {"type": "integer"},
            "sha256": _STR,
        },
    },
    "AuditPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "object"}},
            "next_cursor": _NULL_STR,
        },
    },
    "Tia": {"type": "object", "description": "Transfer Impact Assessment; see docs/tia.md"},
}
_PARAM = re.compile(r"{(\w+)}")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _responses(route: Route) -> dict[str, Any]:
    media = "text/plain" if route.response is None else "application/json"
    schema = _ref(route.response) if route.response else _STR
    responses: dict[str, Any] = {
        str(route.status): {"description": "Success", "content": {media: {"schema": schema}}},
        "400": _problem("Invalid input; `field` names the culprit"),
    }
    if route.roles is not None:
        responses |= {
            "401": _problem("Missing, invalid or expired token"),
            "403": _problem("Forbidden or denied"),
        }
    if _PARAM.search(route.path):
        responses["404"] = _problem("Unknown id")
    return responses


def _operation(route: Route) -> dict[str, Any]:
    params = [
        {"name": p, "in": "path", "required": True, "schema": _STR}
        for p in _PARAM.findall(route.path)
    ]
    params += [{"name": q, "in": "query", "required": False, "schema": _STR} for q in route.query]
    op: dict[str, Any] = {
        "summary": route.summary,
        "parameters": params,
        "responses": _responses(route),
    }
    if route.body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    if route.roles is not None:
        op["security"] = [{"bearer": []}]
        op["x-roles"] = list(route.roles)
    if route.limits:
        op["x-role-limits"] = dict(route.limits)
        op["description"] = " ".join(f"{role}: {limit}." for role, limit in route.limits)
    return op


def document(routes: Iterable[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Region-pinned session broker", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
