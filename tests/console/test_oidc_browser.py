"""OIDC sign-in through real Chromium against a real provider (``oidc-provider``, node).

The broker here is the in-process API (real store, real HTTP on loopback)
with a fake clock set to the real time, so a test can move the broker's
clock past the lifetime of a token the provider really issued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from tests.api.conftest import Api, running_api
from tests.console.idp import IdP, console_config, free_port, oidc_login, running_idp
from tests.viewer.browser import Chromium, chromium


@dataclass
class OidcEnv:
    """The console's API and the provider it trusts."""

    api: Api
    idp: IdP

    def url(self, path: str) -> str:
        """A console URL as the browser reaches it."""
        return f"http://127.0.0.1:{self.api.client.server.port}{path}"


@pytest.fixture
async def oidc(tmp_path: Path) -> AsyncIterator[OidcEnv]:
    """The provider, and the API configured to trust it for staff and two orgs."""
    port = free_port()
    async with running_idp(port, tmp_path) as idp:
        settings = {"console": console_config(idp)}
        async with running_api(tmp_path, start=datetime.now(UTC), port=port, **settings) as api:
            yield OidcEnv(api, idp)


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    """Debian's chromium."""
    async for launched in chromium():
        yield launched


STAFF = "Sign in as staff"
ACME = "Sign in as an administrator of acme-de"

ROLES = [
    pytest.param(STAFF, "eng-us-1", "engineer", id="engineer"),
    pytest.param(STAFF, "ops-1", "ops", id="ops"),
    pytest.param(STAFF, "adm-1", "admin", id="admin"),
    pytest.param(ACME, "cust-admin-1", "customer admin, acme-de", id="customer-admin"),
]


class TestOidcSignIn:
    """Each role signs in through the provider; the refusals say why."""

    @pytest.mark.parametrize(("button", "login", "shown"), ROLES)
    async def test_each_role_signs_in(
        self, oidc: OidcEnv, browser: Chromium, button: str, login: str, shown: str
    ) -> None:
        """Code + PKCE round trip; the console names the person and the mapped role, and its
        cookie is HttpOnly and SameSite=Strict."""
        page, _ = await browser.page()
        await oidc_login(page, oidc.url(""), button, login)
        await page.wait_for_url(oidc.url("/console/"))
        who = await page.locator(".who p").inner_text()
        assert f"Signed in as {login}" in who
        assert shown in who.replace("\n", " ")
        cookie = next(c for c in await page.context.cookies() if c["name"] == "broker_console")
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"

    @pytest.mark.parametrize(
        ("button", "login", "reason"),
        [
            pytest.param(STAFF, "nobody-1", "grants no console role", id="unmapped-group"),
            pytest.param(ACME, "acme-spy-1", "does not name this org", id="other-org-claim"),
            pytest.param(ACME, "eng-us-1", "grants no console role", id="staff-at-org-issuer"),
        ],
    )
    async def test_refused_without_a_mapped_role(
        self, oidc: OidcEnv, browser: Chromium, button: str, login: str, reason: str
    ) -> None:
        """A person the config maps to no role, or an org issuer's token naming another org,
        gets no session."""
        page, _ = await browser.page()
        await oidc_login(page, oidc.url(""), button, login)
        assert reason in await page.get_by_role("alert").inner_text()
        assert not [c for c in await page.context.cookies() if c["name"] == "broker_console"]

    async def test_expired_id_token_is_refused(self, oidc: OidcEnv, browser: Chromium) -> None:
        """The provider's ID token lives an hour: with the broker's clock two hours on, the
        very token it issued is expired, and the sign-in is refused."""
        oidc.api.clock.advance(2 * 3600)
        page, _ = await browser.page()
        await oidc_login(page, oidc.url(""), STAFF, "ops-1")
        assert "ID token" in await page.get_by_role("alert").inner_text()
        assert "exp" in (await page.get_by_role("alert").inner_text()).lower()
        assert not [c for c in await page.context.cookies() if c["name"] == "broker_console"]

    async def test_callback_needs_this_browsers_login(
        self, oidc: OidcEnv, browser: Chromium
    ) -> None:
        """The provider's answer replayed in another browser (no login cookie) is refused."""
        page, _ = await browser.page()
        answers: list[str] = []
        page.on("request", lambda r: answers.append(r.url) if "/auth/callback" in r.url else None)
        await oidc_login(page, oidc.url(""), STAFF, "ops-1")
        other, _ = await browser.page()
        await other.goto(answers[0])
        assert "start again" in await other.get_by_role("alert").inner_text()


@pytest.fixture
async def attacker() -> AsyncIterator[str]:
    """Another site on loopback whose page holds a form aimed at the console."""

    async def page(request: web.Request) -> web.Response:
        target = request.query["target"]
        html = (
            "<!doctype html><title>prize</title>"
            f'<form method="post" action="{target}">'
            '<input type="hidden" name="csrf" value="guess">'
            "<button>Claim your prize</button></form>"
        )
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    await runner.cleanup()


class TestBrowserDefences:
    """What a signed-in admin's own browser refuses to let another site or a tamperer do."""

    async def test_cross_site_form_is_refused(
        self, oidc: OidcEnv, browser: Chromium, attacker: str
    ) -> None:
        """Another site's form posting a revoke: the browser sends no session cookie
        (SameSite=Strict), the console refuses, and the consent stays."""
        api = oidc.api
        headers = api.token("cust-admin-1", "customer_admin", "acme-de")
        body = {"staff_id": "eng-us-1", "expires_at": "2099-01-01T00:00:00Z"}
        made = await api.client.post("/v1/tickets/T-1001/consents", json=body, headers=headers)
        consent_id = (await made.json())["consent_id"]
        page, _ = await browser.page()
        await oidc_login(page, oidc.url(""), ACME, "cust-admin-1")
        await page.wait_for_url(oidc.url("/console/"))
        target = oidc.url(f"/console/admin/consents/T-1001/{consent_id}/revoke")
        await page.goto(f"{attacker}?target={target}")
        async with page.expect_response(target) as answered:
            await page.get_by_role("button", name="Claim your prize").click()
        assert (await answered.value).status in (401, 403)
        assert not api.events.of("consent.revoked")

    async def test_tampered_cookie_is_refused(self, oidc: OidcEnv, browser: Chromium) -> None:
        """A session cookie changed in the browser is no session: back to the sign-in page."""
        page, _ = await browser.page()
        await oidc_login(page, oidc.url(""), ACME, "cust-admin-1")
        await page.wait_for_url(oidc.url("/console/"))
        [cookie] = [c for c in await page.context.cookies() if c["name"] == "broker_console"]
        value = cookie["value"]
        cookie["value"] = value[:-1] + ("A" if value[-1] != "A" else "B")
        await page.context.add_cookies([cookie])
        await page.goto(oidc.url("/console/admin/sessions"))
        assert page.url == oidc.url("/console/signin")
