"""Sign-in by one-time link, the session cookie, sign-out, CSRF: in-process, over the real store."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, running_api
from tests.console.conftest import origin, replace_cookie, sign_in


class TestLinks:
    """``broker console-link``'s endpoint and the link it prints."""

    async def test_link_signs_in_once(self, api: Api) -> None:
        """A link signs its holder in; the same link a second time is refused."""
        answer = await api.client.post(
            "/console/auth/links", headers=api.token("cust-admin-1", "customer_admin", "acme-de")
        )
        path = (await answer.json())["url"].split(str(api.client.server.port), 1)[1]
        first = await api.client.get(path)
        assert first.status == 200
        cookie = first.cookies["broker_console"]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/console/"
        api.client.session.cookie_jar.clear()
        second = await api.client.get(path)
        assert second.status == 401
        assert "not valid" in await second.text()
        [signed_in] = api.events.of("console.signed_in")
        assert signed_in["region"] == "eu-central-1"  # acme-de's region
        assert signed_in["actor"] == "cust-admin-1"
        assert signed_in["method"] == "link"
        [refused] = api.events.of("console.signin_refused")
        assert refused["reason"] == "console_session_ended"

    async def test_link_expires(self, api: Api) -> None:
        """A link unused for 60 s is refused."""
        answer = await api.client.post("/console/auth/links", headers=api.token("ops-1", "ops"))
        path = (await answer.json())["url"].split(str(api.client.server.port), 1)[1]
        api.clock.advance(61)
        assert (await api.client.get(path)).status == 401

    async def test_link_needs_a_token(self, api: Api) -> None:
        """Without a bearer token the endpoint refuses (401), and mints nothing."""
        assert (await api.client.post("/console/auth/links")).status == 401


class TestSession:
    """The console session: cookie, idle bound, tampering, sign-out."""

    async def test_pages_need_sign_in(self, api: Api) -> None:
        """A page without a session redirects to the sign-in page."""
        answer = await api.client.get("/console/admin/sessions", allow_redirects=False)
        assert answer.status == 303
        assert answer.headers["Location"] == "/console/signin"

    async def test_tampered_cookie_is_refused(self, api: Api) -> None:
        """A changed cookie value is no session: the page sends the browser to sign in."""
        await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        value = api.client.session.cookie_jar.filter_cookies(api.client.make_url("/console/"))[
            "broker_console"
        ].value
        replace_cookie(api, value[:-1] + ("A" if value[-1] != "A" else "B"))
        answer = await api.client.get("/console/admin/sessions", allow_redirects=False)
        assert answer.status == 303

    async def test_idle_session_ends(self, api: Api) -> None:
        """Past the idle timeout (30 min by default) the session is gone."""
        await sign_in(api, "ops-1", "ops")
        api.clock.advance(31 * 60)
        answer = await api.client.get("/console/", allow_redirects=False)
        assert answer.status == 303

    async def test_absolute_timeout_ends_a_busy_session(self, api: Api) -> None:
        """Used every 20 minutes, a session still ends 8 hours after sign-in."""
        await sign_in(api, "ops-1", "ops")
        for _ in range(23):  # 7 h 40 min of steady use
            api.clock.advance(20 * 60)
            assert (await api.client.get("/console/", allow_redirects=False)).status == 200
        api.clock.advance(20 * 60)
        assert (await api.client.get("/console/", allow_redirects=False)).status == 303

    async def test_sign_out_ends_the_session(self, api: Api) -> None:
        """Sign-out (with its CSRF token) ends the session server-side."""
        csrf = await sign_in(api, "ops-1", "ops")
        jar = api.client.session.cookie_jar
        kept = jar.filter_cookies(api.client.make_url("/console/"))["broker_console"].value
        out = await api.client.post(
            "/console/signout", data={"csrf": csrf}, headers=origin(api), allow_redirects=False
        )
        assert out.status == 303
        assert api.events.of("console.signed_out")[0]["actor"] == "ops-1"
        replace_cookie(api, kept)  # a copy kept by an attacker
        assert (await api.client.get("/console/", allow_redirects=False)).status == 303

    @pytest.mark.parametrize(
        ("token", "with_origin", "code"),
        [
            pytest.param(None, True, "security token", id="no-token"),
            pytest.param("0" * 64, True, "security token", id="wrong-token"),
            pytest.param("good", False, "not sent from this console", id="no-origin"),
        ],
    )
    async def test_csrf_refused(
        self, api: Api, token: str | None, with_origin: bool, code: str
    ) -> None:
        """A POST without the session's token, or without its Origin, is refused (403)."""
        csrf = await sign_in(api, "ops-1", "ops")
        data = {} if token is None else {"csrf": csrf if token == "good" else token}
        headers = origin(api) if with_origin else {}
        answer = await api.client.post("/console/signout", data=data, headers=headers)
        assert answer.status == 403
        assert code in await answer.text()
        assert (await api.client.get("/console/", allow_redirects=False)).status == 200


class TestHeaders:
    """Every console response's security headers."""

    async def test_strict_csp_and_no_store(self, api: Api) -> None:
        """No inline script or style, no framing; pages with data are not cached."""
        await sign_in(api, "ops-1", "ops")
        answer = await api.client.get("/console/")
        csp = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


class TestSecureCookie:
    """``Secure`` behind TLS: the proxy's word counts only when the config trusts it."""

    @pytest.mark.parametrize(
        ("settings", "secure"),
        [
            pytest.param({"trust_forwarded_proto": True}, True, id="trusted-proxy"),
            pytest.param({}, False, id="untrusted-header"),
            pytest.param({"secure_cookies": "always"}, True, id="always"),
        ],
    )
    async def test_forwarded_proto(self, tmp_path, settings: dict[str, object], secure: bool):
        """A sign-in behind a proxy saying ``X-Forwarded-Proto: https`` gets a Secure cookie
        when the proxy is trusted (or the config says always), and not otherwise."""
        async with running_api(tmp_path, console=settings) as api:
            answer = await api.client.post("/console/auth/links", headers=api.token("ops-1", "ops"))
            path = (await answer.json())["url"].split(str(api.client.server.port), 1)[1]
            landed = await api.client.get(path, headers={"X-Forwarded-Proto": "https"})
            assert bool(landed.cookies["broker_console"]["secure"]) is secure
