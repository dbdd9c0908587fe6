"""``/v1/sessions``: grant, read, list and revoke sessions."""

from __future__ import annotations

from aiohttp import web

from broker import validate as v
from broker.api.middleware import read_json
from broker.api.routing import Route, principal, source_ip
from broker.api.serialize import iso, json_response, session_json
from broker.service.sessions import Grant, GrantRequest, SessionService
from broker.store.base import SessionQuery
from broker.typing import SESSION_STATES, Role, SessionId, StaffId, TargetName, TicketId

SERVICE = web.AppKey("sessions", SessionService)
GRANT_FIELDS = ("ticket_id", "target", "public_key", "ttl_seconds", "source_address")


def parse_grant(body: object) -> GrantRequest:
    """Validate a ``POST /v1/sessions`` body; without ``public_key`` it asks for the viewer."""
    data = v.require_mapping(body, "body")
    v.reject_unknown(data, GRANT_FIELDS)
    return GrantRequest(
        ticket_id=TicketId(v.field(data, "ticket_id", v.identifier)),
        target=TargetName(v.field(data, "target", v.identifier)),
        public_key=v.optional(data, "public_key", v.string),
        ttl_seconds=v.optional(data, "ttl_seconds", v.bounded(60, 24 * 3600)),
        source_address=v.optional(data, "source_address", v.string),
    )


def grant_json(grant: Grant) -> dict[str, object]:
    """The 201 body: everything needed to connect.

    A view session has no certificate and no ssh command (both null): it is
    opened in the region's viewer.
    """
    session = grant.session
    gateway = grant.gateway
    host, port, host_key = (
        (gateway.host, gateway.port, gateway.host_key) if gateway else (None, None, None)
    )
    command = None
    if gateway and session.access == "terminal":
        command = f"ssh -tt -p {port} -o CertificateFile=CERT -i KEY {session.id}@{host}"
    return {
        **session_json(session),
        "gateway": {"host": host, "port": port, "host_key": host_key},
        "username": session.id,
        "certificate": grant.certificate,
        "valid_before": iso(session.valid_before),
        "ssh_command": command,
        "viewer_url": grant.viewer.url if grant.viewer else None,
        "viewer_link_expires_at": iso(grant.viewer.expires_at) if grant.viewer else None,
    }


async def create(request: web.Request) -> web.Response:
    """Ask for a session; 201 with a certificate (or a view session), or 403 with reasons."""
    grant = await request.app[SERVICE].grant(
        principal(request), parse_grant(await read_json(request)), source_ip(request)
    )
    return json_response(grant_json(grant), status=201)


async def show(request: web.Request) -> web.Response:
    """One session."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    session = await request.app[SERVICE].get(principal(request), session_id)
    return json_response(session_json(session))


def parse_query(params: dict[str, str]) -> SessionQuery:
    """Validate list filters and pagination."""
    v.reject_unknown(params, ("ticket_id", "staff_id", "state", "limit", "cursor"))
    state = v.optional(params, "state", v.choice(SESSION_STATES))
    ticket_id = v.optional(params, "ticket_id", v.identifier)
    staff_id = v.optional(params, "staff_id", v.identifier)
    return SessionQuery(
        ticket_id=TicketId(ticket_id) if ticket_id else None,
        staff_id=StaffId(staff_id) if staff_id else None,
        state=next((s for s in SESSION_STATES if s == state), None),
        limit=v.query_int(params, "limit", 1, 500, 50),
        cursor=v.optional(params, "cursor", v.string),
    )


async def index(request: web.Request) -> web.Response:
    """Sessions by ticket, staff and state, newest first, paginated."""
    query = parse_query(dict(request.query))
    page = await request.app[SERVICE].list(principal(request), query)
    items = [session_json(s) for s in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})


async def revoke(request: web.Request) -> web.Response:
    """Revoke a live session; the gateway cuts it within a second."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    session = await request.app[SERVICE].revoke(principal(request), session_id, source_ip(request))
    return json_response(session_json(session))


ENGINEER_OPS: tuple[Role, ...] = ("engineer", "ops", "admin")
ROUTES = (
    Route(
        "POST",
        "/v1/sessions",
        create,
        "Request a session",
        ("engineer",),
        "SessionRequest",
        "Grant",
        201,
    ),
    Route(
        "GET",
        "/v1/sessions",
        index,
        "List sessions",
        ENGINEER_OPS,
        None,
        "SessionPage",
        query=("ticket_id", "staff_id", "state", "limit", "cursor"),
    ),
    Route("GET", "/v1/sessions/{id}", show, "Show a session", ENGINEER_OPS, None, "Session"),
    Route("DELETE", "/v1/sessions/{id}", revoke, "Revoke a session", ENGINEER_OPS, None, "Session"),
)
