"""The console end to end: real broker, real OpenID provider, real Chromium.

An engineer in the US is denied on acme-de's ticket T-1001, consent follows,
the customer's admin watches the session from the console and revokes the
consent there (the session ends), and the TIA page shows all of it. Another
org's admin sees none of it, in the pages or by guessing URLs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from broker.notify.signature import verify
from broker.typing import TicketId
from tests.console.flow_env import ACME, SHOP, WEBHOOK_SECRET, Flow, running_flow
from tests.viewer.browser import Chromium, chromium
from tests.viewer.live_env import EU, until

TICKET = "T-1001"
ENGINEER = "eng-us-1"


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    """Debian's chromium."""
    async for launched in chromium():
        yield launched


@pytest.fixture
async def flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: Chromium
) -> AsyncIterator[Flow]:
    """The whole broker, trusting the provider, notifying the receiver."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BROKER_API", raising=False)
    async with running_flow(tmp_path, browser) as made:
        yield made


async def open_view_session(flow: Flow) -> tuple[int, Any]:
    """The engineer asks for a view session on the ticket."""
    body = {"ticket_id": TICKET, "target": "app-1"}
    return await flow.api("POST", "/v1/sessions", flow.auth(ENGINEER), body)


async def request_consent(flow: Flow) -> str:
    """The engineer asks acme-de for consent through the API; the request's id."""
    body = {"duration_seconds": 2 * 3600, "reason": "customer asked for help with the import job"}
    path = f"/v1/tickets/{TICKET}/consent-requests"
    status, made = await flow.api("POST", path, flow.auth(ENGINEER), body)
    assert status == 201, made
    return str(made["consent_request_id"])


async def signed_webhook(flow: Flow, request_id: str) -> dict[str, Any]:
    """The receiver's one delivery: signed with acme-de's secret, ids and a link only."""
    await until(lambda: bool(flow.receiver.received))
    [delivery] = flow.receiver.received
    verify(WEBHOOK_SECRET, delivery.headers["X-Broker-Signature"], delivery.body, time.time())
    body: dict[str, Any] = json.loads(delivery.body)
    assert body["request"] == request_id
    assert b"import job" not in delivery.body
    return body


async def approve_in_browser(page: Page, flow: Flow, link: str) -> str:
    """Pending requests -> the request -> Approve (as asked); the consent id it made."""
    await (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Pending requests")
        .click()
    )
    await page.get_by_role("link", name=f"Decide on {ENGINEER}'s request for {TICKET}").click()
    assert page.url == flow.runtime.api_url + link
    assert "2 h (as asked)" in await page.get_by_label("Consent lasts").inner_text()
    await page.get_by_role("button", name="Approve").click()
    assert "Approved" in await page.get_by_role("status").inner_text()
    [consent] = await flow.runtime.ctx.store.list_consents(TicketId(TICKET))  # type: ignore[union-attr]
    return str(consent.id)


async def consent_through_the_api(flow: Flow) -> str:
    """The customer admin grants the engineer consent (until consent requests land)."""
    admin = flow.auth("cust-admin-1", "customer_admin", "acme-de")
    body = {"staff_id": ENGINEER, "expires_at": "2099-01-01T00:00:00Z"}
    status, answer = await flow.api("POST", f"/v1/tickets/{TICKET}/consents", admin, body)
    assert status == 201, answer
    return str(answer["consent_id"])


async def view_from_console(page: Page, flow: Flow, action: str, session_id: str) -> Page:
    """Sessions page -> Watch or Replay -> the link page -> the region's viewer."""
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    await page.get_by_role("button", name=f"{action} session {session_id}").click()
    link = page.locator("#viewer-link")
    href = await link.get_attribute("href")
    assert href is not None
    assert href.startswith(flow.runtime.viewers[EU].origin + "/#t=")
    await link.click()
    await page.wait_for_url(f"{flow.runtime.viewers[EU].origin}/**")
    return page


class TestWholeFlow:
    """Denied, requested, notified, approved, opened, watched, revoked, reported."""

    async def test_denied_requested_approved_watched_revoked_reported(self, flow: Flow) -> None:
        """The engineer's request reaches acme-de's webhook signed; every step of the customer
        admin's part happens in the browser; the TIA page shows the request approved, the US
        access on consent, the watch, the replay and the consent granted and revoked."""
        status, denied = await open_view_session(flow)
        assert status == 403
        assert "consent_required" in denied["reasons"]
        request_id = await request_consent(flow)
        webhook = await signed_webhook(flow, request_id)
        admin = await flow.signed_in_page(ACME, "cust-admin-1")
        consent_id = await approve_in_browser(admin, flow, webhook["link"])
        status, opened = await open_view_session(flow)
        assert status == 201, opened
        session_id = opened["session_id"]
        engineer, _ = await flow.browser.page()
        await engineer.goto(opened["viewer_url"])
        viewer = flow.runtime.viewers[EU]
        await until(lambda: session_id in viewer.sessions)
        await view_from_console(admin, flow, "Watch", session_id)
        live = viewer.sessions[session_id]  # type: ignore[index]
        await until(lambda: "cust-admin-1" in live.view._watchers)
        await admin.goto(f"{flow.console}/admin/consents?ticket={TICKET}")
        await admin.get_by_role(
            "button", name=f"Revoke consent {consent_id} for {ENGINEER}"
        ).click()
        assert "revoked" in await admin.get_by_role("status").inner_text()
        assert (await flow.session(session_id)).state == "revoked"
        assert (await flow.session(session_id)).end_reason == "consent_revoked"
        await until(lambda: session_id not in viewer.sessions)
        replay = await view_from_console(admin, flow, "Replay", session_id)
        await replay.locator("#notice").wait_for(state="hidden")
        await admin.goto(f"{flow.console}/admin/tia")
        report = await admin.locator("main").inner_text()
        assert re.search(r"US\s+the customer's explicit consent for the ticket\s+1", report)
        assert consent_id in report
        assert len(re.findall(r"cust-admin-1\s+" + session_id, report)) == 2  # watch, replay
        assert "Consents granted: 1; revoked: 1." in report
        assert re.search(request_id + r"\s+T-1001\s+eng-us-1\s+US\s+\S+\s+2 h\s+approved", report)


class TestOtherOrg:
    """Another org's admin sees nothing of acme-de's ticket."""

    async def test_pages_and_guessed_urls_show_nothing(self, flow: Flow) -> None:
        """shop-us's admin: no session in their list or TIA; the ticket's consents, a watch
        and a replay of the session by URL are all 404, as for ids that do not exist."""
        await consent_through_the_api(flow)
        status, opened = await open_view_session(flow)
        assert status == 201
        session_id = opened["session_id"]
        page = await flow.signed_in_page(SHOP, "shop-admin-1")
        await page.goto(f"{flow.console}/admin/sessions")
        assert session_id not in await page.content()
        await page.goto(f"{flow.console}/admin/tia")
        assert session_id not in await page.content()
        assert TICKET not in await page.content()
        answer = await page.goto(f"{flow.console}/admin/consents?ticket={TICKET}")
        assert answer is not None
        assert answer.status == 404
        csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
        for action in ("watch", "replay"):
            posted = await page.request.post(
                f"{flow.console}/sessions/{session_id}/{action}",
                form={"csrf": csrf or ""},
                headers={"Origin": flow.runtime.api_url},
            )
            assert posted.status == 404, action
            unknown = await page.request.post(
                f"{flow.console}/sessions/no-such-session/{action}",
                form={"csrf": csrf or ""},
                headers={"Origin": flow.runtime.api_url},
            )
            assert unknown.status == 404
