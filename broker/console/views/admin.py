"""Customer admin pages: their org's consents, sessions and TIA (and its requests).

Every record comes from the service layer with the signed-in principal, so
the org boundary is the services' own: another org's ticket, consent or
session is "unknown" (404), whether listed, linked or guessed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
from aiohttp import web

from broker import validate as v
from broker.audit.tia import render_markdown
from broker.console.pages import now, page, principal, source_ip
from broker.console.render import add_nav, add_notices, render, see_other
from broker.console.services import (
    audit_service,
    consent_requests,
    consent_service,
    session_service,
    viewer_links,
)
from broker.errors import InputError
from broker.service.consent_requests import RequestFilter
from broker.store.base import SessionQuery
from broker.typing import ConsentId, OrgId, Role, SessionId, TicketId

ADMIN: Role = "customer_admin"
PAGE_SIZE = 25
NOTICES = {
    "consent_revoked": "The consent is revoked; sessions that relied on it have ended.",
}


@page(ADMIN)
async def consents(request: web.Request) -> web.Response:
    """One ticket's consents (chosen by id, or from the tickets the org's recent sessions and
    consent requests name)."""
    who = principal(request)
    raw = request.query.get("ticket", "").strip()
    ticket = TicketId(v.identifier(raw, "ticket")) if raw else None
    found = await consent_service(request).list(who, ticket) if ticket else []
    recent = await session_service(request).list(who, SessionQuery(limit=100))
    asked = await consent_requests(request).list(who, RequestFilter(limit=100))
    tickets = sorted({s.ticket_id for s in recent.items} | {r.ticket_id for r in asked.items})
    context = {"ticket": ticket, "consents": found, "tickets": tickets, "now": now(request)}
    return render(request, "admin/consents.html", context)


@page(ADMIN)
async def revoke_consent(request: web.Request) -> web.StreamResponse:
    """Revoke a consent; its live sessions end (as ``DELETE /v1/.../consents/{id}``)."""
    ticket = TicketId(v.identifier(request.match_info["ticket"], "ticket"))
    consent = ConsentId(v.identifier(request.match_info["consent"], "consent"))
    await consent_service(request).revoke(principal(request), ticket, consent)
    url = request.app.router["admin.consents"].url_for()
    return see_other(str(url.with_query(ticket=ticket, notice="consent_revoked")))


@page(ADMIN)
async def sessions(request: web.Request) -> web.Response:
    """Sessions on the org's tickets, newest first: watch the live, replay the ended."""
    cursor = request.query.get("cursor") or None
    query = SessionQuery(limit=PAGE_SIZE, cursor=cursor)
    found = await session_service(request).list(principal(request), query)
    at = now(request)
    rows = [(s, s.live_at(at)) for s in found.items]
    context = {"rows": rows, "next_cursor": found.next_cursor}
    return render(request, "admin/sessions.html", context)


@page(ADMIN, "ops")
async def watch(request: web.Request) -> web.Response:
    """A single-use read-only link into the region's viewer (as ``POST .../watch``)."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    link = await viewer_links(request).watch(principal(request), session_id, source_ip(request))
    return render(request, "viewer_link.html", {"link": link, "purpose": "Watch"})


@page(ADMIN, "ops")
async def replay(request: web.Request) -> web.Response:
    """A single-use link replaying the recording in its region (as ``POST .../replay``)."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    link = await viewer_links(request).replay(principal(request), session_id, source_ip(request))
    return render(request, "viewer_link.html", {"link": link, "purpose": "Replay"})


def period(request: web.Request) -> tuple[date, date]:
    """The TIA's period from ``from``/``to`` (dates, ``to`` inclusive); default: last 30 days."""
    today = now(request).date()
    start = _date(request.query.get("from"), "from", today - timedelta(days=30))
    end = _date(request.query.get("to"), "to", today)
    if end < start:
        raise InputError("to", "must not be before from")
    return start, end


async def tia_report(request: web.Request, org: OrgId) -> tuple[dict[str, Any], date, date]:
    """The TIA of ``org`` for the request's period, from the audit service."""
    start, end = period(request)
    begin = datetime.combine(start, time(), UTC)
    finish = datetime.combine(end + timedelta(days=1), time(), UTC)
    report = await audit_service(request).tia(principal(request), org, begin, finish)
    return report, start, end


def _own_org(request: web.Request) -> OrgId:
    org = principal(request).org
    assert org is not None  # a customer admin's principal always names its org
    return org


@page(ADMIN)
async def tia(request: web.Request) -> web.Response:
    """The TIA as a page, with its downloads."""
    report, start, end = await tia_report(request, _own_org(request))
    query = {"from": start.isoformat(), "to": end.isoformat()}
    context = {"tia": report, "start": start, "end": end, "query": query}
    return render(request, "admin/tia.html", context)


@page(ADMIN)
async def tia_markdown(request: web.Request) -> web.Response:
    """The TIA as a Markdown download."""
    report, start, end = await tia_report(request, _own_org(request))
    name = f"tia-{report['org_id']}-{start}-{end}.md"
    return _download(render_markdown(report).encode(), "text/markdown", name)


@page(ADMIN)
async def tia_json(request: web.Request) -> web.Response:
    """The TIA as a JSON download."""
    report, start, end = await tia_report(request, _own_org(request))
    name = f"tia-{report['org_id']}-{start}-{end}.json"
    return _download(orjson.dumps(report, option=orjson.OPT_INDENT_2), "application/json", name)


def _download(body: bytes, content_type: str, filename: str) -> web.Response:
    """An attachment, never cached."""
    return web.Response(
        body=body,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _date(raw: str | None, name: str, default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise InputError(name, "must be a date, YYYY-MM-DD") from error


def add_routes(app: web.Application) -> None:
    """Add the customer admin pages (``admin.*``) and their menu."""
    app.router.add_get("/admin/consents", consents, name="admin.consents")
    app.router.add_post(
        "/admin/consents/{ticket}/{consent}/revoke", revoke_consent, name="admin.consent.revoke"
    )
    app.router.add_get("/admin/sessions", sessions, name="admin.sessions")
    app.router.add_post("/sessions/{id}/watch", watch, name="session.watch")
    app.router.add_post("/sessions/{id}/replay", replay, name="session.replay")
    app.router.add_get("/admin/tia", tia, name="admin.tia")
    app.router.add_get("/admin/tia.md", tia_markdown, name="admin.tia.md")
    app.router.add_get("/admin/tia.json", tia_json, name="admin.tia.json")
    add_nav(
        ADMIN,
        ("admin.sessions", "Sessions"),
        ("admin.consents", "Consents"),
        ("admin.tia", "Transfer impact assessment"),
    )
    add_notices(NOTICES)
