"""The OpenAPI 3.1 document, generated from the same route table the app serves."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from broker import __version__
from broker.api.openapi_records import IMPORT_DOCUMENT, PATH_EXAMPLES
from broker.api.openapi_requests import CONSENT_REQUEST_SCHEMAS
from broker.api.routing import Route
from broker.audit.catalog import EVENT_TYPES
from broker.audit.reader import MAX_CURSOR
from broker.state import WRITER_ID
from broker.typing import CONSENT_REQUEST_STATES, SESSION_STATES
from broker.validate import ID_PATTERN, TIME_PATTERN

_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_NULL_STR = {"type": ["string", "null"]}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
ID = {"type": "string", "pattern": ID_PATTERN}
"""Every id the API takes (``broker.validate.identifier``)."""
TIME_INPUT = {"type": "string", "format": "date-time", "pattern": TIME_PATTERN}
"""Every time the API takes (``broker.validate.timestamp``)."""
QUERY: dict[str, dict[str, Any]] = {
    "ticket_id": ID,
    "staff_id": ID,
    "session_id": ID,
    "state": {"enum": list(SESSION_STATES)},
    "event": {"enum": list(EVENT_TYPES)},
    "since": TIME_INPUT,
    "until": TIME_INPUT,
    "from": TIME_INPUT,
    "to": TIME_INPUT,
    "format": {"enum": ["json", "md", "pdf"]},
    "limit": {"type": "integer", "minimum": 1, "maximum": 500},
    "cursor": {"type": "string", "minLength": 1, "maxLength": 4096},
}
"""Query parameters by name; ``QUERY_BY_PATH`` where one path differs."""
REQUIRED_QUERY = frozenset(
    {("/v1/orgs/{id}/tia", "from"), ("/v1/orgs/{id}/tia", "to"), ("/v1/audit/verify", "region")}
)
_CHAIN_AT = f"{WRITER_ID.pattern}:[0-9]+"
"""One chain's position in an audit cursor (``broker.audit.reader.Cursor``)."""
QUERY_BY_PATH: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/audit", "limit"): {"type": "integer", "minimum": 1, "maximum": 1000},
    ("/v1/audit", "cursor"): {
        "type": "string",
        "maxLength": MAX_CURSOR,
        "pattern": f"^(?:[0-9]+|{_CHAIN_AT}(?:,{_CHAIN_AT})*)$",
    },
    ("/v1/consent-requests", "state"): {"enum": list(CONSENT_REQUEST_STATES)},
}

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
        "example": {
            "ticket_id": "T-1001",
            "target": "app-1",
            "public_key": "ssh-ed25519 "
            "AAAAC3NzaC1lZDI1NTE5AAAAIPvM+QldaXGzaqiamNz0pmHY7KyDj++H9kEmRUXLyglD",
        },
        "required": ["ticket_id", "target"],
        "additionalProperties": False,
        "properties": {
            "ticket_id": ID,
            "target": ID,
            "public_key": {
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": 4096,
                "description": (
                    "OpenSSH public key line: asks for a terminal session (403"
                    " `terminal_not_allowed` where the policy allows the viewer only);"
                    " without it, a view session with no certificate"
                ),
            },
            "ttl_seconds": {"type": ["integer", "null"], "minimum": 60, "maximum": 86400},
            "source_address": {
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": 4096,
                "description": "An IP address or CIDR block the certificate is limited to",
            },
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
        "example": {"staff_id": "eng-us-1", "expires_at": "2099-01-01T00:00:00Z"},
        "required": ["staff_id", "expires_at"],
        "additionalProperties": False,
        "properties": {
            "staff_id": ID,
            "expires_at": TIME_INPUT,
            "waives_eea_only": {
                "type": ["boolean", "null"],
                "description": (
                    "Required (true) when an eea_only org consents to staff outside the EEA"
                    " on an EEA-only ticket: the explicit waiver of EEA-only support"
                ),
            },
        },
    },
    "Consent": CONSENT,
    "ConsentList": {"type": "object", "properties": {"items": {"type": "array", "items": CONSENT}}},
    "ImportDocument": IMPORT_DOCUMENT,
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
        "properties": {
            "hold": {
                "type": "string",
                "pattern": ID_PATTERN,
                "description": "the hold's reference (an id)",
            }
        },
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
    "AuditVerify": {
        "type": "object",
        "description": "Each chain (one per writer) of the region: ok, or its first bad record",
        "properties": {
            "region": _STR,
            "ok": {"type": "boolean"},
            "records": {"type": "integer"},
            "chains": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Tia": {"type": "object", "description": "Transfer Impact Assessment; see docs/tia.md"},
    **CONSENT_REQUEST_SCHEMAS,
}
_PARAM = re.compile(r"{(\w+)}")


def _link(operation: str, body: dict[str, str] | None = None, **parameters: str) -> dict[str, Any]:
    link: dict[str, Any] = {"operationId": operation, "parameters": parameters}
    if body is not None:
        link["requestBody"] = body
    return link


_BODY_SESSION = "$response.body#/session_id"
_BODY_TICKET = "$response.body#/ticket_id"
_BODY_REQUEST = "$response.body#/consent_request_id"
LINKS: dict[str, dict[str, dict[str, Any]]] = {
    "sessions_create": {
        "ShowSession": _link("sessions_show", id=_BODY_SESSION),
        "RevokeSession": _link("sessions_revoke", id=_BODY_SESSION),
        "DownloadRecording": _link("recordings_download", id=_BODY_SESSION),
        "TicketRouting": _link("admin_routing", id=_BODY_TICKET),
        "TicketConsents": _link("consents_index", id=_BODY_TICKET),
    },
    "sessions_index": {
        "ShowFirstSession": _link("sessions_show", id="$response.body#/items/0/session_id"),
    },
    "sessions_show": {
        "RevokeSession": _link("sessions_revoke", id="$request.path.id"),
        "TicketRouting": _link("admin_routing", id=_BODY_TICKET),
    },
    "consents_create": {
        "RevokeConsent": _link(
            "consents_revoke", id="$request.path.id", consent_id="$response.body#/consent_id"
        ),
        "ListConsents": _link("consents_index", id="$request.path.id"),
    },
    "consents_index": {
        "RevokeFirstConsent": _link(
            "consents_revoke",
            id="$request.path.id",
            consent_id="$response.body#/items/0/consent_id",
        ),
    },
    "admin_routing": {
        "GrantConsent": _link(
            "consents_create",
            {"staff_id": "$response.body#/needs_consent/0", "expires_at": "2099-01-01T00:00:00Z"},
            id=_BODY_TICKET,
        ),
        "SetTicketStatus": _link("admin_patch_ticket", id=_BODY_TICKET),
    },
    "admin_patch_ticket": {"TicketRouting": _link("admin_routing", id=_BODY_TICKET)},
    "consent_requests_create": {
        "ShowRequest": _link("consent_requests_show", id=_BODY_REQUEST),
        "CancelRequest": _link("consent_requests_cancel", id=_BODY_REQUEST),
    },
    "consent_requests_index": {
        "ShowFirstRequest": _link(
            "consent_requests_show", id="$response.body#/items/0/consent_request_id"
        ),
        "ApproveFirstRequest": _link(
            "consent_requests_approve", {}, id="$response.body#/items/0/consent_request_id"
        ),
    },
}
"""Stateful links: which answer feeds which next request (by ``operationId``)."""


def operation_id(route: Route) -> str:
    """A stable id for the route: its module and its handler (``sessions_create``)."""
    return f"{route.handler.__module__.rsplit('.', 1)[-1]}_{route.handler.__name__}"


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
    success: dict[str, Any] = {"description": "Success", "content": {media: {"schema": schema}}}
    if operation_id(route) in LINKS:
        success["links"] = LINKS[operation_id(route)]
    if operation_id(route) == "audit_tia":  # format=md, format=pdf
        success["content"]["text/markdown"] = {"schema": _STR}
        success["content"]["application/pdf"] = {"schema": {"type": "string", "format": "binary"}}
    responses: dict[str, Any] = {
        str(route.status): success,
        "400": _problem("Invalid input; `field` names the culprit"),
    }
    if route.roles is not None:
        responses |= {
            "401": _problem("Missing, invalid or expired token"),
            "403": _problem("Forbidden or denied"),
            "404": _problem("Unknown id (in the path, the query or the body)"),
            "409": _problem("The state changed under the request, or a region boundary"),
            "503": _problem("A dependency failed (store, audit trail): nothing was granted"),
        }
    if route.body:
        responses["413"] = _problem("Body larger than 64 KiB")
    return responses


def _query(route: Route, name: str, regions: list[str]) -> dict[str, Any]:
    if name == "region":
        return {"enum": regions}
    return QUERY_BY_PATH.get((route.path, name)) or QUERY[name]


def _path_param(route: Route, name: str) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": ID}
    if name == "id" and route.path in PATH_EXAMPLES:
        param["example"] = PATH_EXAMPLES[route.path]
    return param


def _operation(route: Route, regions: list[str]) -> dict[str, Any]:
    params = [_path_param(route, p) for p in _PARAM.findall(route.path)]
    params += [
        {
            "name": q,
            "in": "query",
            "required": (route.path, q) in REQUIRED_QUERY,
            "schema": _query(route, q, regions),
        }
        for q in route.query
    ]
    op: dict[str, Any] = {
        "operationId": operation_id(route),
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


def document(routes: Iterable[Route], regions: Iterable[str] = ()) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes`` on an instance serving ``regions``."""
    paths: dict[str, dict[str, Any]] = {}
    served = list(regions)
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, served)
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
