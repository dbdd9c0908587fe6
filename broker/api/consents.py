"""``/v1/tickets/{id}/consents``: customer admins grant and revoke consent."""

from __future__ import annotations

from aiohttp import web

from broker import validate as v
from broker.api.middleware import read_json
from broker.api.routing import Route, principal
from broker.api.serialize import consent_json, json_response
from broker.service.consents import ConsentService
from broker.typing import ConsentId, StaffId, TicketId

SERVICE = web.AppKey("consents", ConsentService)


def _ticket(request: web.Request) -> TicketId:
    return TicketId(v.identifier(request.match_info["id"], "id"))


async def create(request: web.Request) -> web.Response:
    """Grant consent for one named staff member on this ticket."""
    data = v.require_mapping(await read_json(request), "body")
    v.reject_unknown(data, ("staff_id", "expires_at", "waives_eea_only"))
    staff_id = StaffId(v.field(data, "staff_id", v.identifier))
    expires_at = v.field(data, "expires_at", v.timestamp)
    waives = v.optional(data, "waives_eea_only", v.boolean) is True
    consent = await request.app[SERVICE].grant(
        principal(request), _ticket(request), staff_id, expires_at, waives
    )
    return json_response(consent_json(consent), status=201)


async def index(request: web.Request) -> web.Response:
    """The ticket's consents."""
    consents = await request.app[SERVICE].list(principal(request), _ticket(request))
    return json_response({"items": [consent_json(c) for c in consents]})


async def revoke(request: web.Request) -> web.Response:
    """Revoke a consent; sessions that relied on it end."""
    consent_id = ConsentId(v.identifier(request.match_info["consent_id"], "consent_id"))
    consent = await request.app[SERVICE].revoke(principal(request), _ticket(request), consent_id)
    return json_response(consent_json(consent))


PATH = "/v1/tickets/{id}/consents"
ROUTES = (
    Route(
        "POST", PATH, create, "Grant consent", ("customer_admin",), "ConsentRequest", "Consent", 201
    ),
    Route(
        "GET", PATH, index, "List consents", ("customer_admin", "ops", "admin"), None, "ConsentList"
    ),
    Route(
        "DELETE",
        PATH + "/{consent_id}",
        revoke,
        "Revoke consent",
        ("customer_admin",),
        None,
        "Consent",
    ),
)
