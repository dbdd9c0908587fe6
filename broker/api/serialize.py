"""Records to JSON bodies, and JSON bodies to responses. Times are ISO 8601 UTC with a ``Z``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson
from aiohttp import web

from broker.models import Consent, Session


def json_response(
    data: object, *, status: int = 200, content_type: str = "application/json"
) -> web.Response:
    """``data`` as a JSON response.

    orjson encodes a grant's body in under 1 us where the standard encoder
    (``web.json_response``) takes about 10. What orjson refuses (an integer
    beyond 64 bits, a lone surrogate in a string) goes to the standard one.
    """
    try:
        body = orjson.dumps(data)
    except TypeError:
        body = json.dumps(data).encode()
    return web.Response(body=body, status=status, content_type=content_type)


def iso(at: datetime | None) -> str | None:
    """``at`` as ISO 8601 UTC (``...Z``), or None."""
    if at is None:
        return None
    if at.tzinfo is not UTC:  # the clock's and the store's times are UTC already
        at = at.astimezone(UTC)
    return at.isoformat().replace("+00:00", "Z")


def session_json(session: Session) -> dict[str, object]:
    """A session as the API shows it."""
    return {
        "session_id": session.id,
        "region": session.region,
        "org_id": session.org_id,
        "ticket_id": session.ticket_id,
        "staff_id": session.staff_id,
        "target": session.target,
        "basis": session.basis,
        "access": session.access,
        "consent_id": session.consent_id,
        "state": session.state,
        "created_at": iso(session.created_at),
        "valid_before": iso(session.valid_before),
        "ended_at": iso(session.ended_at),
        "end_reason": session.end_reason,
        "source_address": session.source_address,
    }


def consent_json(consent: Consent) -> dict[str, object]:
    """A consent as the API shows it."""
    return {
        "consent_id": consent.id,
        "org_id": consent.org_id,
        "ticket_id": consent.ticket_id,
        "staff_id": consent.staff_id,
        "granted_by": consent.granted_by,
        "created_at": iso(consent.created_at),
        "expires_at": iso(consent.expires_at),
        "revoked_at": iso(consent.revoked_at),
        "waives_eea_only": consent.waives_eea_only,
    }
