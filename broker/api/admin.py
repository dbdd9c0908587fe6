"""Reference data: import, ticket status and routing, staff activation."""

from __future__ import annotations

from aiohttp import web

from broker import validate as v
from broker.api.middleware import read_json
from broker.api.routing import Route, principal
from broker.api.serialize import iso, json_response
from broker.service.admin import AdminService
from broker.store.import_bundle import parse_bundle
from broker.typing import TICKET_STATUSES, Role, StaffId, TicketId, TicketStatus

SERVICE = web.AppKey("admin", AdminService)


async def import_records(request: web.Request) -> web.Response:
    """Upsert orgs, staff, tickets and targets, all or nothing."""
    bundle = parse_bundle(await read_json(request))
    counts = await request.app[SERVICE].import_bundle(principal(request), bundle)
    body = {
        "orgs": counts.orgs,
        "staff": counts.staff,
        "tickets": counts.tickets,
        "targets": counts.targets,
        "sessions_revoked": len(counts.revoked),
    }
    return json_response(body)


async def patch_ticket(request: web.Request) -> web.Response:
    """Change a ticket's status; closing revokes its live sessions."""
    data = v.require_mapping(await read_json(request), "body")
    v.reject_unknown(data, ("status",))
    closed = v.field(data, "status", v.choice(TICKET_STATUSES)) == "closed"
    status: TicketStatus = "closed" if closed else "open"
    ticket_id = TicketId(v.identifier(request.match_info["id"], "id"))
    ticket = await request.app[SERVICE].set_ticket_status(principal(request), ticket_id, status)
    return json_response({"ticket_id": ticket.id, "status": ticket.status})


async def patch_staff(request: web.Request) -> web.Response:
    """Activate or deactivate a staff member; deactivating revokes their sessions."""
    data = v.require_mapping(await read_json(request), "body")
    v.reject_unknown(data, ("active",))
    active = v.field(data, "active", v.boolean)
    staff_id = StaffId(v.identifier(request.match_info["id"], "id"))
    staff = await request.app[SERVICE].set_staff_active(principal(request), staff_id, active)
    return json_response({"staff_id": staff.id, "active": staff.active})


async def routing(request: web.Request) -> web.Response:
    """Who may work the ticket, on which basis, who needs consent, and when."""
    ticket_id = TicketId(v.identifier(request.match_info["id"], "id"))
    found = await request.app[SERVICE].routing(principal(request), ticket_id)
    body = {
        "ticket_id": found.ticket.id,
        "region": found.region,
        "allowed": found.allowed,
        "needs_consent": found.needs_consent,
        "access": list(found.access),
        "support_window": {
            "open_now": found.support_open_now,
            "next_open": iso(found.support_next_open),
        },
    }
    return json_response(body)


ANY_ROLE: tuple[Role, ...] = ("engineer", "customer_admin", "ops", "admin")
ROUTES = (
    Route(
        "POST",
        "/v1/import",
        import_records,
        "Import reference data",
        ("admin",),
        "ImportDocument",
        "ImportCounts",
    ),
    Route(
        "PATCH",
        "/v1/tickets/{id}",
        patch_ticket,
        "Set ticket status",
        ("customer_admin", "ops", "admin"),
        "TicketPatch",
        "TicketStatus",
        limits=(("customer_admin", "only status closed, only their own org's tickets"),),
    ),
    Route("GET", "/v1/tickets/{id}/routing", routing, "Ticket routing", ANY_ROLE, None, "Routing"),
    Route(
        "PATCH",
        "/v1/staff/{id}",
        patch_staff,
        "Set staff active",
        ("admin",),
        "StaffPatch",
        "StaffStatus",
    ),
)
