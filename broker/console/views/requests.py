"""Consent requests in the console: the customer admin's pending list, and one request's page.

``/console/requests/{id}`` is the link a request's notification carries
(``broker.service.consent_requests.CONSOLE_REQUEST_PATH``). Anyone the
service lets see the request may open it (the requester, their org's
admins, ops); only the org's admins get the approve and deny forms, and
only while it is pending. Approval may shorten the duration, never lengthen
it: the form offers the asked-for duration and shorter ones, and the
service refuses anything longer whatever the form sent.
"""

from __future__ import annotations

from aiohttp import web

from broker import validate as v
from broker.console.pages import form, now, page, principal
from broker.console.render import add_nav, add_notices, redirect, render
from broker.console.services import consent_requests
from broker.errors import InputError
from broker.service.consent_requests import MIN_REQUEST_SECONDS, RequestFilter
from broker.typing import ROLES, ConsentRequestId, Role

ADMIN: Role = "customer_admin"
SHORTER = (15 * 60, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 3 * 86400)
"""The shorter durations an approval offers (those under the one asked for)."""
NOTICES = {
    "request_approved": "Approved: the engineer has consent for the ticket.",
    "request_denied": "Denied: the engineer sees your reason.",
}


@page(ADMIN)
async def pending(request: web.Request) -> web.Response:
    """The org's pending requests (oldest answered first is the admin's call), and recent ones."""
    service, who = consent_requests(request), principal(request)
    waiting = await service.list(who, RequestFilter(state="pending", limit=100))
    recent = await service.list(who, RequestFilter(limit=25))
    decided = [r for r in recent.items if r.state != "pending"]
    context = {"pending": waiting.items, "decided": decided}
    return render(request, "admin/requests.html", context)


@page(*ROLES)
async def one(request: web.Request) -> web.Response:
    """One request: its facts, and (for the org's admin, while pending) approve and deny."""
    found = await consent_requests(request).get(principal(request), _id(request))
    at = now(request)
    current = found.as_of(at)
    decide = principal(request).role == ADMIN and current.state == "pending"
    choices = [s for s in SHORTER if s < found.duration_seconds]
    context = {"r": current, "decide": decide, "durations": [found.duration_seconds, *choices]}
    return render(request, "request.html", context)


@page(ADMIN)
async def approve(request: web.Request) -> web.Response:
    """Approve, for the chosen duration (as asked by default); the consent is made."""
    sent = form(request)
    duration = _seconds(sent.get("duration"))
    waives = sent.get("waives_eea_only") == "yes"
    service = consent_requests(request)
    await service.approve(principal(request), _id(request), duration, waives_eea_only=waives)
    return redirect(request, "admin.requests", notice="request_approved")


@page(ADMIN)
async def deny(request: web.Request) -> web.Response:
    """Deny, with the reason the engineer will read."""
    reason = form(request).get("reason")
    await consent_requests(request).deny(principal(request), _id(request), str(reason or ""))
    return redirect(request, "admin.requests", notice="request_denied")


def _id(request: web.Request) -> ConsentRequestId:
    return ConsentRequestId(v.identifier(request.match_info["id"], "id"))


def _seconds(raw: object) -> int | None:
    """The form's duration in seconds; absent means "as asked"."""
    if raw in (None, ""):
        return None
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) < MIN_REQUEST_SECONDS:
        raise InputError("duration", "must be a number of seconds")
    return int(raw)


def add_routes(app: web.Application) -> None:
    """The pending list (``admin.requests``) and one request's page and forms."""
    app.router.add_get("/admin/requests", pending, name="admin.requests")
    app.router.add_get("/requests/{id}", one, name="request")
    app.router.add_post("/requests/{id}/approve", approve, name="request.approve")
    app.router.add_post("/requests/{id}/deny", deny, name="request.deny")
    add_nav(ADMIN, ("admin.requests", "Pending requests"))
    add_notices(NOTICES)
