"""Ops pages: the dashboard, sessions (filter, page, revoke), the audit trail with each
region's verify status, a recorded denial explained, and any org's TIA.

Every figure comes from the service layer the API uses (``SessionService``,
``AuditService`` and the read models built on it), with the signed-in
principal, so the services' role checks apply here as they do there.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from broker import validate as v
from broker.audit import AuditQuery
from broker.audit.catalog import EVENT_TYPES
from broker.audit.reader import Cursor
from broker.console import filters as f
from broker.console.dashboard import dashboard_charts
from broker.console.pages import now, page, principal, source_ip
from broker.console.render import add_nav, add_notices, redirect, render
from broker.console.services import audit_service, session_service
from broker.service.dashboard import DashboardService
from broker.service.explain import DenialExplainer
from broker.state import check_writer
from broker.store.base import SessionQuery
from broker.typing import (
    LIVE_SESSION_STATES,
    SESSION_STATES,
    OrgId,
    Region,
    Role,
    SessionId,
    StaffId,
    TicketId,
)

OPS: tuple[Role, ...] = ("ops", "admin")
PAGE = 50
DASHBOARD_DAYS = 14
SHOWN_FIELDS = ("reasons", "reason", "kind", "basis", "access", "staff_country", "tier",
                "scope", "target", "consent_id", "source_ip", "duration_s")  # fmt: skip
"""Fields of an audit record shown in its "details" cell (the ids have columns)."""


@page(*OPS)
async def dashboard(request: web.Request) -> web.Response:
    """Sessions per region per day, denials by reason, blocked egress by kind."""
    today = now(request).date()
    first, last, start, end = f.period(request.query, today, DASHBOARD_DAYS)
    board = await DashboardService(audit_service(request)).summary(principal(request), start, end)
    context = {"first": first, "last": last, "board": board, "charts": dashboard_charts(board)}
    return render(request, "ops/dashboard.html", context)


def _session_query(params: Any, regions: tuple[Region, ...]) -> SessionQuery:
    since, until = f.window(params)
    region = f.pick(params, "region", regions)
    return SessionQuery(
        ticket_id=_opt(TicketId, f.ident(params, "ticket")),
        staff_id=_opt(StaffId, f.ident(params, "staff")),
        state=f.pick(params, "state", SESSION_STATES),  # type: ignore[arg-type]
        limit=PAGE,
        cursor=f.cursor(params),
        org_id=_opt(OrgId, f.ident(params, "org")),
        region=None if region is None else Region(region),
        since=since,
        until=until,
    )


def _opt(kind: Any, value: str | None) -> Any:
    return None if value is None else kind(value)


@page(*OPS)
async def sessions(request: web.Request) -> web.Response:
    """Every session by filter, newest first, a page at a time, with revoke for live ones."""
    regions = session_service(request).ctx.config.regions
    query = _session_query(request.query, regions)
    found = await session_service(request).list(principal(request), query)
    context = {
        "items": found.items,
        "params": request.query,
        "regions": regions,
        "states": SESSION_STATES,
        "live": LIVE_SESSION_STATES,
        "next_query": _next(request, found.next_cursor, "cursor"),
    }
    return render(request, "ops/sessions.html", context)


def _next(request: web.Request, cursor: str | None, name: str) -> dict[str, str] | None:
    """The query of the next page's link, or None on the last page."""
    if cursor is None:
        return None
    return {**f.query_without(request.query, name, "notice"), name: cursor}


@page(*OPS)
async def revoke(request: web.Request) -> web.StreamResponse:
    """End a live session now (CSRF-checked POST); back to the list with a notice."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    await session_service(request).revoke(principal(request), session_id, source_ip(request))
    return redirect(request, "ops.sessions", "session_revoked")


def _audit_query(params: Any) -> AuditQuery:
    since, until = f.window(params)
    return AuditQuery(
        session_id=f.ident(params, "session"),
        ticket_id=f.ident(params, "ticket"),
        staff_id=f.ident(params, "staff"),
        event=f.pick(params, "event", EVENT_TYPES),
        since=since,
        until=until,
        after=Cursor.parse(params["cursor"]) if params.get("cursor") else Cursor(),
        limit=PAGE,
    )


@page(*OPS)
async def audit(request: web.Request) -> web.Response:
    """The trail of one region by ticket, session, staff, event and time, with every
    region's chain verify status. No region named: the ticket's or session's, else the
    first."""
    service = audit_service(request)
    regions = service.ctx.config.regions
    params = {**request.query}
    picked = f.pick(params, "region", regions)
    query = _audit_query(params)
    derived = picked is None and (query.ticket_id or query.session_id)
    region = None if derived else Region(picked or regions[0])
    found = await service.query(principal(request), region, query)
    context = {
        "records": [_row(record) for record in found.records],
        "params": params,
        "region": region,
        "regions": regions,
        "events": EVENT_TYPES,
        "verified": await service.verify_all(principal(request)),
        "next_query": _next_audit(params, found.next_after),
        "first_query": f.query_without(params, "cursor", "notice"),
    }
    return render(request, "ops/audit.html", context)


def _next_audit(params: dict[str, str], after: Cursor | None) -> dict[str, str] | None:
    if after is None:
        return None
    return {**f.query_without(params, "cursor", "notice"), "cursor": after.encode()}


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a table row: the ids in columns, the rest as ``name: value`` details."""
    details = []
    for name in SHOWN_FIELDS:
        value = record.get(name)
        if value is not None:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            details.append(f"{name}: {shown}")
    when = str(record.get("time", ""))[:19].replace("T", " ")
    return {**record, "details": "; ".join(details), "when": when}


@page(*OPS)
async def explain(request: web.Request) -> web.Response:
    """A recorded denial, explained by the access policy, with the consent what-if."""
    regions = audit_service(request).ctx.config.regions
    region = Region(v.choice(regions)(request.match_info["region"], "region"))
    writer = check_writer(request.match_info["writer"])
    seq = v.digits(request.match_info["seq"], "seq", 1, 2**63 - 1)
    explainer = DenialExplainer(audit_service(request))
    found = await explainer.explain(principal(request), region, writer, seq)
    return render(request, "ops/explain.html", {"found": found, "region": region})


def add_routes(app: web.Application) -> None:
    """Add the ops pages (named ``ops.<page>``) and the ops menu (``render.add_nav``)."""
    app.router.add_get("/ops/", dashboard, name="ops.dashboard")
    app.router.add_get("/ops/sessions", sessions, name="ops.sessions")
    app.router.add_post("/ops/sessions/{id}/revoke", revoke, name="ops.revoke")
    app.router.add_get("/ops/audit", audit, name="ops.audit")
    app.router.add_get("/ops/audit/{region}/{writer}/{seq}/explain", explain, name="ops.explain")
    add_notices(
        {"session_revoked": "The session was revoked; its gateway ends it within a second."}
    )
    for role in OPS:
        add_nav(role, ("ops.dashboard", "Dashboard"), ("ops.sessions", "Sessions"),
                ("ops.audit", "Audit trail"), ("ops.tia", "TIA"))  # fmt: skip
