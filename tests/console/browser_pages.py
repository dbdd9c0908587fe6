"""Real Chromium on the console: sign in by one-time link, axe-core, viewport and keyboard helpers.

axe-core (``tests/console/node``, installed by ``make console-node``) is put
into each page with ``page.evaluate`` of its source: ``add_script_tag``
would add an inline ``<script>``, which the console's CSP (``script-src
'self'``) refuses, and the CSP must stay on so the pages are checked as
served. ``evaluate`` goes through the DevTools protocol, which no CSP governs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page

from tests.api.conftest import Api, soon

AXE = Path(__file__).parent / "node" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
PHONE = (375, 740)
LAPTOP = (1280, 800)


def axe_source() -> str:
    """axe-core's script, or a clear failure naming the make target that installs it."""
    if not AXE.is_file():
        raise RuntimeError("axe-core is not installed: run `make console-node`")
    return AXE.read_text(encoding="utf-8")


async def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """The page's serious and critical axe violations (WCAG 2.x A and AA, best practices)."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(source)
    found = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }"""
    )
    return [v for v in found if v["impact"] in BLOCKING]


async def sign_in(page: Page, api: Api, subject: str, role: str, org: str | None = None) -> None:
    """Sign the browser in through a one-time link (``broker console-link``)."""
    answer = await api.client.post("/console/auth/links", headers=api.token(subject, role, org))
    assert answer.status == 201, await answer.text()
    await page.goto((await answer.json())["url"])
    await page.wait_for_url("**/console/")  # the landing page refreshes to the front page
    await page.get_by_role("heading", name="Welcome").wait_for()


def url(api: Api, path: str) -> str:
    """A console path as the browser reaches it."""
    return f"http://127.0.0.1:{api.client.server.port}{path}"


async def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scrolling)."""
    return int(
        await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


async def seed(api: Api) -> dict[str, str]:
    """Records every page has something to show: sessions, a consent, denials, a watch.

    Returns ids the pages are reached by."""
    for day in range(4):  # the days before: sessions in every region for the dashboard
        for staff, ticket in (("eng-ie-1", "T-1001"), ("eng-us-1", "T-2001"),
                              ("eng-in-1", "T-3001"))[: 1 + day % 3]:  # fmt: skip
            await api.grant(staff, ticket)
        api.clock.advance(86_400)
    admin = api.token("cust-1", "customer_admin", "acme-de")
    body = {"staff_id": "eng-ie-1", "expires_at": soon(api.clock, 120)}
    await api.client.post("/v1/tickets/T-1001/consents", json=body, headers=admin)
    terminal = await (await api.grant("eng-de-1", "T-1001")).json()
    await api.grant("eng-de-1", "T-1001", view=True)
    await api.grant("eng-us-1", "T-1001")  # consent_required
    await api.grant("eng-br-1", "T-1001")  # country_not_permitted
    view = await (await api.grant("eng-no-1", "T-1002", view=True)).json()
    api.auditor.emit("egress.blocked", region="eu-central-1", session_id=terminal["session_id"],
                     org_id="acme-de", kind="osc52")  # fmt: skip
    body = {"duration_seconds": 7200, "reason": "the customer asked us to look"}
    asked = await api.client.post(
        "/v1/tickets/T-1001/consent-requests", json=body, headers=api.token("eng-us-1")
    )
    assert asked.status == 201, await asked.text()
    api.auditor.flush()
    return {"terminal": terminal["session_id"], "view": view["session_id"]}
