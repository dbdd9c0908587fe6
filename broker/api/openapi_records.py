"""OpenAPI schemas of the import records, and the examples the document shows.

They state what ``broker.store.import_bundle`` accepts, from the same patterns and
tables, so a client (or a fuzzer) reading the document sends what the API
takes. The examples are the demo data's (``broker/demo/data.json``).
"""

from __future__ import annotations

from typing import Any

from broker.store.import_bundle import MAX_RECORDS
from broker.typing import SCOPES, TICKET_STATUSES, TIERS
from broker.validate import ID_PATTERN

_ID = {"type": "string", "pattern": ID_PATTERN}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 4096}


def _record(required: list[str], **properties: Any) -> dict[str, Any]:
    """An object schema; optional fields may be null (``broker.validate.optional``)."""
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": {
            name: schema if name in required else {"anyOf": [schema, {"type": "null"}]}
            for name, schema in properties.items()
        },
    }


IMPORT_RECORDS: dict[str, dict[str, Any]] = {
    "orgs": _record(
        ["id", "region", "tier"],
        id=_ID,
        region=_ID,
        tier={"enum": list(TIERS)},
        record_input={"type": "boolean"},
        terminal_access={"type": "boolean"},
        require_watch={"type": "boolean"},
    ),
    "staff": _record(
        ["id", "country"],
        id=_ID,
        country={"type": "string", "pattern": "^[A-Z]{2}$"},
        active={"type": "boolean"},
    ),
    "tickets": _record(
        ["id", "org_id", "severity"],
        id=_ID,
        org_id=_ID,
        severity={"type": "integer", "minimum": 1, "maximum": 4},
        scope={"enum": list(SCOPES)},
        status={"enum": list(TICKET_STATUSES)},
    ),
    "targets": _record(
        ["org_id", "name", "region", "host"],
        org_id=_ID,
        name=_ID,
        region=_ID,
        host=_TEXT,
        port={"type": "integer", "minimum": 1, "maximum": 65535},
        user=_ID,
        host_key=_TEXT,
    ),
}
IMPORT_DOCUMENT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        kind: {"type": "array", "maxItems": MAX_RECORDS, "items": schema}
        for kind, schema in IMPORT_RECORDS.items()
    },
    "example": {"staff": [{"id": "eng-de-1", "country": "DE"}]},
}

PATH_EXAMPLES = {
    "/v1/orgs/{id}/tia": "acme-de",
    "/v1/staff/{id}": "eng-de-1",
    "/v1/tickets/{id}": "T-1001",
    "/v1/tickets/{id}/routing": "T-1001",
    "/v1/tickets/{id}/consents": "T-1001",
    "/v1/tickets/{id}/consent-requests": "T-1001",
}
"""An example id for the path's ``{id}``, where the demo data has one."""
