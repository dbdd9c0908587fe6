"""The TIA for ops (any org), and the PDF download for everyone who may read a TIA.

The page and its downloads come from ``admin.tia_report`` (one call to
``AuditService.tia``, which verifies the org's region's chain first and hides
other orgs from a customer admin exactly as the API does); the page is the
customer admin's template (``admin/tia.html``) with an org field. Whose
report: a customer admin's own org, always; ops and admins name one (``org``).
The PDF is rendered off the event loop (it is CPU work).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from markupsafe import Markup, escape

from broker import validate as v
from broker.audit.tia import render_markdown
from broker.console.pages import now, page, principal
from broker.console.render import render
from broker.console.views.admin import _download, period, tia_report
from broker.render.tia_pdf import render_pdf
from broker.typing import OrgId, Role

READERS: tuple[Role, ...] = ("customer_admin", "ops", "admin")


def report_org(request: web.Request) -> OrgId:
    """The customer admin's own org; for ops and admins the ``org`` they name."""
    own = principal(request).org
    if principal(request).role == "customer_admin" and own is not None:
        return own
    return OrgId(v.identifier(request.query.get("org", "").strip(), "org"))


def _org_field(org: str) -> Markup:
    return Markup(
        '<div class="field"><label for="org">Org</label>'
        '<input id="org" name="org" value="{}" required size="14"></div>'
    ).format(escape(org))


@page("ops", "admin")
async def any_org(request: web.Request) -> web.Response:
    """Pick an org and a period; its report, with Markdown, JSON and PDF downloads."""
    if not request.query.get("org", "").strip():
        start, end = period(request)
        context: dict[str, Any] = {"start": start, "end": end, "org_field": _org_field("")}
        return render(request, "ops/tia.html", context)
    org = report_org(request)
    report, start, end = await tia_report(request, org)
    query = {"org": org, "from": start.isoformat(), "to": end.isoformat()}
    context = {"tia": report, "start": start, "end": end, "query": query,
               "org_field": _org_field(org), "md_route": "ops.tia.md",
               "json_route": "ops.tia.json"}  # fmt: skip
    return render(request, "admin/tia.html", context)


async def _report(request: web.Request) -> tuple[dict[str, Any], str]:
    """The report, and the download's name without its extension."""
    report, start, end = await tia_report(request, report_org(request))
    return report, f"tia-{report['org_id']}-{start}-{end}"


@page(*READERS)
async def pdf(request: web.Request) -> web.Response:
    """The report as a PDF document."""
    report, name = await _report(request)
    body = await asyncio.to_thread(render_pdf, report, now(request))
    return _download(body, "application/pdf", f"{name}.pdf")


@page("ops", "admin")
async def markdown(request: web.Request) -> web.Response:
    """Any org's report as Markdown (customer admins have ``admin.tia.md``)."""
    report, name = await _report(request)
    return _download(render_markdown(report).encode(), "text/markdown", f"{name}.md")


@page("ops", "admin")
async def json(request: web.Request) -> web.Response:
    """Any org's report as JSON (customer admins have ``admin.tia.json``)."""
    report, name = await _report(request)
    body = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    return _download(body, "application/json", f"{name}.json")


def add_routes(app: web.Application) -> None:
    """``tia.pdf`` for every reader; the ops page and its Markdown and JSON."""
    app.router.add_get("/tia.pdf", pdf, name="tia.pdf")
    app.router.add_get("/ops/tia", any_org, name="ops.tia")
    app.router.add_get("/ops/tia.md", markdown, name="ops.tia.md")
    app.router.add_get("/ops/tia.json", json, name="ops.tia.json")
