"""Engineer pages: their tickets' routing, their sessions, and a button that opens one.

A view session opens in the region's viewer: the page shows its single-use
link (60 s, once). A terminal session needs the engineer's own public key
(the private key never leaves their machine): the page shows the certificate
to save beside it and the ``ssh`` command that uses both. A denial is shown
on the ticket's page with the policy's reasons, never as a bare error.
"""

from __future__ import annotations

import shlex
from typing import Any

from aiohttp import web

from broker import validate as v
from broker.console import filters as f
from broker.console.pages import form, page, principal, source_ip
from broker.console.render import add_nav, render
from broker.console.services import admin_service, session_service, viewer_links
from broker.console.views import engineer_requests
from broker.errors import InputError, PolicyDenied
from broker.policy.messages import message_for
from broker.service.sessions import Grant, GrantRequest
from broker.store.base import SessionQuery
from broker.typing import LIVE_SESSION_STATES, SessionId, StaffId, TargetName, TicketId

RECENT = 20
DEFAULT_TARGET = "app-1"


@page("engineer")
async def home(request: web.Request) -> web.Response:
    """Their recent sessions, the tickets they worked, and a ticket look-up."""
    me = StaffId(principal(request).subject)
    found = await session_service(request).list(
        principal(request), SessionQuery(staff_id=me, limit=RECENT)
    )
    asked = await engineer_requests.my_requests(request)
    tickets = list(
        dict.fromkeys([*(s.ticket_id for s in found.items), *(r.ticket_id for r in asked)])
    )
    context = {"sessions": found.items, "tickets": tickets, "live": LIVE_SESSION_STATES,
               "requests": asked}  # fmt: skip
    return render(request, "engineer/home.html", context)


@page("engineer")
async def lookup(request: web.Request) -> web.StreamResponse:
    """The look-up form's answer: that ticket's page."""
    ticket = v.identifier(f.text(request.query, "ticket") or "", "ticket")
    raise web.HTTPSeeOther(location=str(request.app.router["engineer.ticket"].url_for(id=ticket)))


async def _ticket_context(request: web.Request, ticket_id: TicketId) -> dict[str, Any]:
    routing = await admin_service(request).routing(principal(request), ticket_id)
    me = StaffId(principal(request).subject)
    basis = next((route for route, staff in routing.allowed.items() if me in staff), None)
    return {
        "routing": routing,
        "basis": basis,
        "needs_consent": me in routing.needs_consent,
        "target": DEFAULT_TARGET,
        "denied": None,
        "durations": engineer_requests.DURATIONS,
        "pending": await engineer_requests.pending_for(request, ticket_id),
    }


@page("engineer")
async def ticket(request: web.Request) -> web.Response:
    """Who may work the ticket and how; the form that opens a session on it."""
    ticket_id = TicketId(v.identifier(request.match_info["id"], "id"))
    return render(request, "engineer/ticket.html", await _ticket_context(request, ticket_id))


def _grant_request(ticket_id: TicketId, data: Any) -> GrantRequest:
    """The form as a grant request: a view session, or a terminal for the given key."""
    mode = v.choice(("view", "terminal"))(str(data.get("mode", "view")), "mode")
    key = str(data.get("public_key", "")).strip()
    if mode == "terminal" and not key:
        raise InputError("public_key", "a terminal session needs your OpenSSH public key")
    target = v.identifier(str(data.get("target", "")).strip(), "target")
    return GrantRequest(ticket_id, TargetName(target), key if mode == "terminal" else None)


@page("engineer")
async def open_session(request: web.Request) -> web.Response:
    """Ask for a session (CSRF-checked POST): its link or command, or why not."""
    ticket_id = TicketId(v.identifier(request.match_info["id"], "id"))
    wanted = _grant_request(ticket_id, form(request))
    try:
        grant = await session_service(request).grant(principal(request), wanted, source_ip(request))
    except PolicyDenied as denied:
        context = await _ticket_context(request, ticket_id)
        context["denied"] = [(code, message_for(code)) for code in denied.reasons]
        context["needs_consent"] = context["needs_consent"] or "consent_required" in denied.reasons
        context["target"] = wanted.target
        return render(request, "engineer/ticket.html", context, status=403)
    return render(request, "engineer/opened.html", _opened(grant))


def _opened(grant: Grant) -> dict[str, Any]:
    """The result page's facts: the viewer link, or the certificate and ssh command."""
    session, gateway = grant.session, grant.gateway
    command = known_host = None
    if session.access == "terminal" and gateway is not None:
        # unquoted ~: the shell expands it for -i, ssh itself for CertificateFile
        command = (
            f"ssh -tt -p {gateway.port} -i ~/.ssh/id_ed25519"
            f" -o CertificateFile=~/.ssh/broker-{session.id}-cert.pub -o IdentitiesOnly=yes"
            f" {shlex.quote(f'{session.id}@{gateway.host}')}"
        )
        if gateway.host_key:
            known_host = f"[{gateway.host}]:{gateway.port} {gateway.host_key}"
    return {"session": session, "grant": grant, "command": command, "known_host": known_host}


@page("engineer")
async def new_link(request: web.Request) -> web.Response:
    """A fresh single-use viewer link to their own live view session (CSRF-checked POST)."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    link = await viewer_links(request).resume(principal(request), session_id, source_ip(request))
    grant = Grant(link.session, None, None, link)
    return render(request, "engineer/opened.html", _opened(grant))


def add_routes(app: web.Application) -> None:
    """Add the engineer pages (named ``engineer.<page>``) and menu (``render.add_nav``)."""
    app.router.add_get("/engineer/", home, name="engineer.home")
    app.router.add_get("/engineer/ticket", lookup, name="engineer.lookup")
    app.router.add_get("/engineer/tickets/{id}", ticket, name="engineer.ticket")
    app.router.add_post("/engineer/tickets/{id}/sessions", open_session, name="engineer.open")
    app.router.add_post("/engineer/sessions/{id}/link", new_link, name="engineer.link")
    add_nav("engineer", ("engineer.home", "My work"))
    engineer_requests.add_routes(app)
