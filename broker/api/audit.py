"""``/v1/audit`` for ops, and ``/v1/orgs/{id}/tia``, the Transfer Impact Assessment."""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web

from broker import validate as v
from broker.api.routing import Route, principal
from broker.api.serialize import json_response
from broker.audit import AuditQuery
from broker.audit.catalog import EVENT_TYPES
from broker.audit.reader import Cursor
from broker.audit.tia import render_markdown
from broker.render.tia_pdf import render_pdf
from broker.service.audit import AuditService
from broker.typing import OrgId, Region, Role

SERVICE = web.AppKey("audit", AuditService)
FILTERS = (
    "region", "session_id", "ticket_id", "staff_id", "event", "since", "until", "cursor", "limit",
)  # fmt: skip


def _time(params: dict[str, str], name: str) -> datetime | None:
    return v.timestamp(params[name], name) if name in params else None


def parse_query(params: dict[str, str]) -> AuditQuery:
    """Validate the filters of ``GET /v1/audit``."""
    v.reject_unknown(params, FILTERS)
    return AuditQuery(
        session_id=v.optional(params, "session_id", v.identifier),
        ticket_id=v.optional(params, "ticket_id", v.identifier),
        staff_id=v.optional(params, "staff_id", v.identifier),
        event=v.optional(params, "event", v.choice(EVENT_TYPES)),
        since=_time(params, "since"),
        until=_time(params, "until"),
        after=v.optional(params, "cursor", Cursor.parse) or Cursor(),
        limit=v.query_int(params, "limit", 1, 1000, 100),
    )


async def index(request: web.Request) -> web.Response:
    """Audit records of one region by filter, all its chains merged in time order, paginated."""
    params = dict(request.query)
    query = parse_query(params)
    region = Region(v.identifier(params["region"], "region")) if "region" in params else None
    page = await request.app[SERVICE].query(principal(request), region, query)
    cursor = page.next_after.encode() if page.next_after is not None else None
    return json_response({"items": page.records, "next_cursor": cursor})


async def verify(request: web.Request) -> web.Response:
    """Every chain of one region verified: per writer, records, head, ok or the first problem."""
    params = dict(request.query)
    v.reject_unknown(params, ("region",))
    region = Region(v.field(params, "region", v.identifier))
    verdict = await request.app[SERVICE].verify(principal(request), region)
    return json_response(verdict.to_dict())


async def tia(request: web.Request) -> web.Response:
    """The TIA as JSON, or Markdown with ``format=md``, or a PDF document with ``format=pdf``."""
    params = dict(request.query)
    v.reject_unknown(params, ("from", "to", "format"))
    start, end = v.field(params, "from", v.timestamp), v.field(params, "to", v.timestamp)
    fmt = v.optional(params, "format", v.choice(("json", "md", "pdf"))) or "json"
    org_id = OrgId(v.identifier(request.match_info["id"], "id"))
    report = await request.app[SERVICE].tia(principal(request), org_id, start, end)
    if fmt == "md":
        return web.Response(text=render_markdown(report), content_type="text/markdown")
    if fmt == "pdf":
        now = request.app[SERVICE].ctx.clock.now()
        body = await asyncio.to_thread(render_pdf, report, now)  # CPU work: off the loop
        return web.Response(body=body, content_type="application/pdf")
    return json_response(report)


OPS: tuple[Role, ...] = ("ops", "admin")
ROUTES = (
    Route(
        "GET", "/v1/audit", index, "Query the audit trail", OPS, None, "AuditPage", query=FILTERS
    ),
    Route(
        "GET",
        "/v1/audit/verify",
        verify,
        "Verify every audit chain of a region",
        OPS,
        None,
        "AuditVerify",
        query=("region",),
    ),
    Route(
        "GET",
        "/v1/orgs/{id}/tia",
        tia,
        "Transfer Impact Assessment",
        (*OPS, "customer_admin"),
        None,
        "Tia",
        query=("from", "to", "format"),
    ),
)
