"""Consent requests: engineers ask (``/v1/tickets/{id}/consent-requests``), the ticket
org's customer admins approve or deny (``/v1/consent-requests/{id}/...``)."""

from __future__ import annotations

from aiohttp import web

from broker import validate as v
from broker.api.middleware import read_json
from broker.api.routing import Route, principal
from broker.api.serialize import iso, json_response
from broker.models import ConsentRequest
from broker.service.consent_requests import ConsentRequestService, RequestFilter, request_link
from broker.typing import CONSENT_REQUEST_STATES, ROLES, ConsentRequestId, Role, TicketId

SERVICE = web.AppKey("consent_requests", ConsentRequestService)
EVERYONE: tuple[Role, ...] = ROLES


def request_json(request: ConsentRequest) -> dict[str, object]:
    """A consent request as the API shows it (its texts as stored: pseudonymised)."""
    return {
        "consent_request_id": request.id,
        "org_id": request.org_id,
        "region": request.region,
        "ticket_id": request.ticket_id,
        "staff_id": request.staff_id,
        "staff_country": request.staff_country,
        "duration_seconds": request.duration_seconds,
        "reason": request.reason,
        "state": request.state,
        "created_at": iso(request.created_at),
        "expires_at": iso(request.expires_at),
        "decided_by": request.decided_by,
        "decided_at": iso(request.decided_at),
        "granted_seconds": request.granted_seconds,
        "deny_reason": request.deny_reason,
        "consent_id": request.consent_id,
        "console_path": request_link(request.id),
    }


def _id(request: web.Request) -> ConsentRequestId:
    return ConsentRequestId(v.identifier(request.match_info["id"], "id"))


async def create(request: web.Request) -> web.Response:
    """Ask the ticket's org for consent (engineers, where the policy needs one)."""
    data = v.require_mapping(await read_json(request), "body")
    v.reject_unknown(data, ("duration_seconds", "reason"))
    seconds = v.field(data, "duration_seconds", v.integer)
    reason = v.field(data, "reason", v.text)
    ticket = TicketId(v.identifier(request.match_info["id"], "id"))
    made = await request.app[SERVICE].request(principal(request), ticket, seconds, reason)
    return json_response(request_json(made), status=201)


def parse_filter(params: dict[str, str]) -> RequestFilter:
    """Validate list filters and pagination."""
    v.reject_unknown(params, ("ticket_id", "state", "limit", "cursor"))
    state = v.optional(params, "state", v.choice(CONSENT_REQUEST_STATES))
    ticket_id = v.optional(params, "ticket_id", v.identifier)
    return RequestFilter(
        state=next((s for s in CONSENT_REQUEST_STATES if s == state), None),
        ticket_id=TicketId(ticket_id) if ticket_id else None,
        limit=v.query_int(params, "limit", 1, 500, 50),
        cursor=v.optional(params, "cursor", v.string),
    )


async def index(request: web.Request) -> web.Response:
    """The caller's requests (own, their org's, or all), newest first, paginated."""
    wanted = parse_filter(dict(request.query))
    page = await request.app[SERVICE].list(principal(request), wanted)
    items = [request_json(r) for r in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})


async def show(request: web.Request) -> web.Response:
    """One request."""
    found = await request.app[SERVICE].get(principal(request), _id(request))
    return json_response(request_json(found))


async def approve(request: web.Request) -> web.Response:
    """Approve (optionally for less time): the consent is made in the same write."""
    data = v.require_mapping(await read_json(request), "body")
    v.reject_unknown(data, ("duration_seconds", "waives_eea_only"))
    seconds = v.optional(data, "duration_seconds", v.integer)
    waives = v.optional(data, "waives_eea_only", v.boolean) is True
    decided = await request.app[SERVICE].approve(principal(request), _id(request), seconds, waives)
    return json_response(request_json(decided))


async def deny(request: web.Request) -> web.Response:
    """Deny, with a reason the engineer reads."""
    data = v.require_mapping(await read_json(request), "body")
    v.reject_unknown(data, ("reason",))
    reason = v.field(data, "reason", v.text)
    decided = await request.app[SERVICE].deny(principal(request), _id(request), reason)
    return json_response(request_json(decided))


async def cancel(request: web.Request) -> web.Response:
    """Withdraw one's own pending request."""
    decided = await request.app[SERVICE].cancel(principal(request), _id(request))
    return json_response(request_json(decided))


PATH = "/v1/consent-requests"
ONE = PATH + "/{id}"
RECORD = "ConsentRequestRecord"
ROUTES = (
    Route(
        "POST",
        "/v1/tickets/{id}/consent-requests",
        create,
        "Ask the ticket's org for consent",
        ("engineer",),
        "NewConsentRequest",
        RECORD,
        201,
    ),
    Route(
        "GET",
        PATH,
        index,
        "List consent requests",
        EVERYONE,
        None,
        "ConsentRequestPage",
        query=("ticket_id", "state", "limit", "cursor"),
        limits=(
            ("engineer", "their own requests only"),
            ("customer_admin", "their org's requests only"),
        ),
    ),
    Route(
        "GET",
        ONE,
        show,
        "Show a consent request",
        EVERYONE,
        None,
        RECORD,
        limits=(
            ("engineer", "their own requests only"),
            ("customer_admin", "their org's requests only"),
        ),
    ),
    Route(
        "POST",
        ONE + "/approve",
        approve,
        "Approve a consent request",
        ("customer_admin",),
        "ConsentRequestApproval",
        RECORD,
    ),
    Route(
        "POST",
        ONE + "/deny",
        deny,
        "Deny a consent request",
        ("customer_admin",),
        "ConsentRequestDenial",
        RECORD,
    ),
    Route(
        "POST",
        ONE + "/cancel",
        cancel,
        "Withdraw one's own consent request",
        ("engineer",),
        None,
        RECORD,
    ),
)
