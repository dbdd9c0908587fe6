"""The regional viewer against the real runtime: headers, Origin, links, input, endings.

The page is played by aiohttp's WebSocket client speaking the page's
protocol; the browser itself is exercised in ``test_browser.py``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import aiohttp
import pytest

from broker.models import ViewerToken
from broker.viewer.protocol import HEADER, MAX_PASTE_BYTES, OP_CANVAS
from broker.viewer.tokens import new_token, viewer_link
from broker.viewer.web import HEADERS
from tests.cli.test_walkthrough import cli
from tests.viewer.live_env import EU, PUBLIC, US, ViewerEnv, screen_text, until, until_screen_has

pytestmark = pytest.mark.ssh


class TestHeaders:
    """Every response carries the security headers."""

    @pytest.mark.parametrize("path", ["/", "/viewer.js", "/viewer.css", "/nope", "/ws"])
    async def test_headers_everywhere(self, env: ViewerEnv, path: str) -> None:
        """Page, assets, 404s and refused upgrades all carry CSP, no-referrer, no-store."""
        async with env.http.get(env.viewer() + path) as response:
            for name, value in HEADERS.items():
                assert response.headers[name] == value
        assert "frame-ancestors 'none'" in HEADERS["Content-Security-Policy"]
        assert "unsafe-inline" not in HEADERS["Content-Security-Policy"]

    async def test_page_has_no_inline_code(self, env: ViewerEnv) -> None:
        """The HTML loads its own script and style files only (CSP would block inline)."""
        async with env.http.get(env.viewer() + "/") as response:
            html = await response.text()
        assert "<script>" not in html
        assert "style=" not in html
        assert 'src="viewer.js"' in html


class TestOrigin:
    """The socket checks Origin before anything else."""

    @pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
    async def test_wrong_origin_refused_before_upgrade(self, env: ViewerEnv, origin: str) -> None:
        """Another origin gets 403 and no socket; the refusal is audited."""
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await env.http.ws_connect(env.viewer() + "/ws", origin=origin)
        assert caught.value.status == 403
        assert [e["reason"] for e in env.events.of("viewer.refused")] == ["bad_origin"]

    async def test_other_regions_viewer_is_another_origin(self, env: ViewerEnv) -> None:
        """The US viewer's page cannot open the EU viewer's socket."""
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await env.http.ws_connect(env.viewer(EU) + "/ws", origin=env.viewer(US))


class TestPublicOrigin:
    """Behind a load balancer's TLS listener: links and ``Origin`` are the advertised origin."""

    async def test_links_use_the_advertised_origin(self, public_env: ViewerEnv) -> None:
        """The grant's link, and a resumed one, go to ``advertise_viewer``, not the bound port."""
        session = await public_env.open_session()
        for _ in range(2):
            url = await public_env.link(session)
            assert url.startswith(f"{PUBLIC}/#t=")

    async def test_advertised_origin_accepted(self, public_env: ViewerEnv) -> None:
        """A page that came through the listener (``Origin`` the advertised origin) opens the
        session on the bound port; nothing is refused."""
        session = await public_env.open_session()
        url = await public_env.link(session)
        page = await public_env.page(url.replace(PUBLIC, public_env.viewer()), origin=PUBLIC)
        await page.control("ready")
        await until_screen_has(public_env.runtime, session.id, "DEMO TARGET for region")
        assert public_env.events.of("viewer.refused") == []

    async def test_own_origin_still_accepted(self, public_env: ViewerEnv) -> None:
        """The bound origin stays the viewer's own (a page loaded from it directly)."""
        session = await public_env.open_session()
        url = await public_env.link(session)
        page = await public_env.page(url.replace(PUBLIC, public_env.viewer()))
        await page.control("ready")

    @pytest.mark.parametrize(
        "origin",
        [
            "https://evil.example",
            "http://viewer.example",
            "https://viewer.example:443",
            "https://viewer.example.evil.example",
            "https://VIEWER.example",
            "null",
        ],
    )
    async def test_other_origins_refused(self, public_env: ViewerEnv, origin: str) -> None:
        """Any other origin, near misses of the advertised one included, gets 403 and no
        socket; the refusal is audited as before."""
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await public_env.http.ws_connect(public_env.viewer() + "/ws", origin=origin)
        assert caught.value.status == 403
        assert [e["reason"] for e in public_env.events.of("viewer.refused")] == ["bad_origin"]


class TestLinks:
    """Single-use, expiring, region-bound links."""

    async def test_link_opens_the_session(self, env: ViewerEnv) -> None:
        """ready, then a CANVAS frame first; session.connected says access view and the IP."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        ready = await page.control("ready")
        assert (ready["cols"], ready["rows"]) == (80, 24)
        await until_screen_has(env.runtime, session.id, "DEMO TARGET for region eu-central-1")
        assert HEADER.unpack_from(await page.frame())[0] == OP_CANVAS
        (connected,) = env.events.of("session.connected")
        assert connected["access"] == "view"
        assert connected["source_ip"] == "127.0.0.1"
        assert connected["session_id"] == session.id

    async def test_reused_link_refused(self, env: ViewerEnv) -> None:
        """A second use of the same link is refused and audited; the first page stays."""
        session = await env.open_session()
        url = await env.link(session)
        first = await env.page(url)
        await first.control("ready")
        second = await env.page(url)
        assert (await second.control("error"))["code"] == "token_used"
        await second.closed()
        (refused,) = env.events.of("viewer.refused")
        assert (refused["reason"], refused["session_id"]) == ("viewer_token_used", session.id)
        await first.send("input", data="echo still-$((40+2))\r")
        await until_screen_has(env.runtime, session.id, "still-42")

    async def test_expired_link_refused(self, env: ViewerEnv) -> None:
        """A link unused for 60 s is refused."""
        session = await env.open_session()
        token, digest = new_token()
        now = env.runtime.clock.now()
        assert env.runtime.store is not None
        await env.runtime.store.add_viewer_token(
            ViewerToken(
                digest, session.id, EU, session.staff_id, now - timedelta(seconds=61),
                now - timedelta(seconds=1),
            )
        )  # fmt: skip
        page = await env.page(viewer_link(env.viewer(), token))
        assert (await page.control("error"))["code"] == "token_expired"
        await page.closed()

    async def test_eu_link_at_us_viewer_refused(self, env: ViewerEnv) -> None:
        """An EU session's link presented to the US viewer is refused (and stays unused)."""
        session = await env.open_session()
        url = await env.link(session)
        wrong = url.replace(env.viewer(EU), env.viewer(US))
        page = await env.page(wrong)
        assert (await page.control("error"))["code"] == "wrong_region"
        await page.closed()
        right = await env.page(url)
        await right.control("ready")

    @pytest.mark.parametrize("token", ["", "t=short", "t=" + "A" * 42 + "*"])
    async def test_malformed_token_refused(self, env: ViewerEnv, token: str) -> None:
        """A hello without a well-formed token is refused."""
        ws = await env.http.ws_connect(env.viewer() + "/ws", origin=env.viewer())
        await ws.send_json({"type": "hello", "token": token})
        message = await ws.receive_json(timeout=10)
        assert message["type"] == "error"
        assert message["code"] == "token_invalid"


class TestInput:
    """Keys, paste, resize and scroll reach the target and the screen."""

    async def test_keys_echo(self, env: ViewerEnv) -> None:
        """Typed keys run on the target; the answer appears on the server's screen."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        await page.send("input", data="echo hi-$((6*7))\r")
        await until_screen_has(env.runtime, session.id, "hi-42")

    async def test_egress_filter_applies(self, env: ViewerEnv) -> None:
        """A clipboard write (OSC 52) from the target is blocked and audited, as over SSH."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        await page.send("input", data="printf '\\033]52;c;%s\\007done-%s\\n' aGk= $((4*4))\r")
        await until_screen_has(env.runtime, session.id, "done-16")
        await until(lambda: bool(env.events.of("egress.blocked")))
        (blocked,) = env.events.of("egress.blocked")
        assert blocked["session_id"] == session.id
        assert "aGk=" not in repr(blocked)

    async def test_paste_audited_by_size_only(self, env: ViewerEnv) -> None:
        """A paste reaches the target; the audit event has its size and not its content."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        text = "echo pasted-$((2*21))\r"
        await page.send("paste", data=text)
        await until_screen_has(env.runtime, session.id, "pasted-42")
        (paste,) = env.events.of("viewer.paste")
        assert paste["bytes"] == len(text)
        assert "pasted" not in repr(paste)

    async def test_oversized_paste_refused(self, env: ViewerEnv) -> None:
        """Over 64 KiB: an error, nothing sent, nothing audited; the session goes on."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        await page.send("paste", data="x" * (MAX_PASTE_BYTES + 1))
        assert (await page.control("error"))["code"] == "too_large"
        assert env.events.of("viewer.paste") == []
        await page.send("input", data="echo alive-$((1+1))\r")
        await until_screen_has(env.runtime, session.id, "alive-2")

    async def test_wheel_scrolls_the_server_side_scrollback(self, env: ViewerEnv) -> None:
        """A scroll message moves the region's view back; the page gets new frames only."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        await page.send("input", data="seq -f 'line-%03g' 1 100\r")
        await until_screen_has(env.runtime, session.id, "line-100")
        live = env.runtime.viewers[EU].sessions[session.id]
        page.frames.clear()
        await page.send("scroll", lines=-30)
        await until(lambda: live.view.scroll_offset == 30)
        await page.frame()
        back = screen_text(env.runtime, session.id, offset=30)
        assert "line-100" not in back
        assert "line-05" in back
        await page.send("scroll", lines=0)
        await until(lambda: live.view.scroll_offset == 0)

    async def test_resize_changes_the_pty(self, env: ViewerEnv) -> None:
        """A resize message changes the target's PTY size (``stty size``)."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        await page.send("resize", cols=100, rows=30)
        ready = await page.control("ready")
        assert (ready["cols"], ready["rows"]) == (100, 30)
        await page.send("input", data="stty size\r")
        await until_screen_has(env.runtime, session.id, "30 100")


class TestEndings:
    """A view session is cut like an SSH one and the page is told why."""

    async def test_revoke_tells_the_page(self, env: ViewerEnv) -> None:
        """Revoked through the API: the page gets ``end`` revoked and the socket closes."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        await env.revoke(session)
        end = await page.control("end")
        assert end["reason"] == "revoked"
        await page.closed()
        await until(lambda: bool(env.events.of("session.closed")))
        assert env.events.of("session.closed")[0]["reason"] == "revoked"

    async def test_shell_exit_ends_the_session(self, env: ViewerEnv) -> None:
        """``exit`` on the target: the page gets ``end`` exited; the recording is stored."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        await page.send("input", data="exit\r")
        assert (await page.control("end"))["reason"] == "exited"
        await page.closed()
        await until(lambda: bool(env.events.of("session.closed")))
        assert env.events.of("session.closed")[0]["reason"] == "shell_exited"
        assert len(env.events.of("recording.stored")) == 1
        assert env.runtime.store is not None
        stored = await env.runtime.store.get_session(session.id)
        assert stored.state == "closed"

    async def test_two_fresh_links_race_to_one_session(self, env: ViewerEnv) -> None:
        """Two links of a new session opened at once: both attach in turn (neither is told
        the session ended), and the session is connected once."""
        session = await env.open_session()
        first, second = await env.link(session), await env.link(session)
        pages = await asyncio.gather(env.page(first), env.page(second))
        for page in pages:
            await page.control("ready")
        assert len(env.events.of("session.connected")) == 1
        assert env.runtime.viewers[EU].sessions[session.id].attached is not None

    async def test_resume_replaces_the_old_page(self, env: ViewerEnv) -> None:
        """A fresh link attaches a new page to the same shell; the old page is told."""
        session = await env.open_session()
        old = await env.page(await env.link(session))
        await old.control("ready")
        await old.send("input", data="export MARK=kept-$((3*3))\r")
        new = await env.page(await env.link(session))
        assert (await old.control("end"))["reason"] == "replaced"
        await new.control("ready")
        await new.send("input", data="echo $MARK\r")
        await until_screen_has(env.runtime, session.id, "kept-9")
        assert len(env.events.of("session.connected")) == 1

    async def test_dropped_page_leaves_session_live(self, env: ViewerEnv) -> None:
        """A page that goes away does not end the session; a resumed page finds the shell."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        await page.send("input", data="export MARK=back-$((5*5))\r")
        await asyncio.sleep(0.3)
        await page.ws.close()
        back = await env.page(await env.link(session))
        await back.control("ready")
        await back.send("input", data="echo $MARK\r")
        await until_screen_has(env.runtime, session.id, "back-25")
        assert env.events.of("session.closed") == []


class TestResumeCli:
    """``broker session resume ID`` prints a fresh link; the link opens the same session."""

    async def test_readme_open_view_link_works(
        self, env: ViewerEnv, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The README's ``session open --view`` on an eea_only ticket prints a working link."""
        status, out, _ = await cli(
            capsys, "session", "open", "--view", "--ticket", "T-1002", "--target", "app-1",
            "--as", "eng-no-1",
        )  # fmt: skip
        assert status == 0
        url = out.strip().splitlines()[-1]
        assert url.startswith(env.viewer() + "/#t=")
        page = await env.page(url)
        await page.control("ready")

    async def test_resume_prints_a_working_link(
        self, env: ViewerEnv, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The printed link is the region's viewer with a token in the fragment, and it works."""
        session = await env.open_session()
        status, out, _ = await cli(capsys, "session", "resume", session.id, "--as", "eng-de-1")
        assert status == 0
        url = out.strip().splitlines()[-1]
        assert url.startswith(env.viewer() + "/#t=")
        page = await env.page(url)
        await page.control("ready")

    async def test_someone_elses_session_refused(
        self, env: ViewerEnv, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Another engineer is refused with the reason, and no link is printed."""
        session = await env.open_session()
        status, out, err = await cli(capsys, "session", "resume", session.id, "--as", "eng-ie-1")
        assert status != 0
        assert "staff_forbidden" in err or "not your session" in err
        assert "#t=" not in out


class TestWatcherCuts:
    """The gateway's watcher cuts view sessions as it cuts SSH ones."""

    async def test_ticket_closed_is_told(self, env: ViewerEnv) -> None:
        """Closing the ticket revokes the session; the page is told it was the ticket."""
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        assert env.runtime.store is not None
        await env.runtime.store.set_ticket_status(
            session.ticket_id, "closed", env.runtime.clock.now()
        )
        assert (await page.control("end"))["reason"] == "ticket_closed"
        await page.closed()

    async def test_detached_session_ends_at_idle_bound(self, idle_env: ViewerEnv) -> None:
        """A page gone for longer than the idle bound: the session ends, resume is refused."""
        env = idle_env
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        await page.ws.close()
        await until(lambda: bool(env.events.of("session.closed")))
        assert env.events.of("session.closed")[0]["reason"] == "idle_timeout"
        async with env.http.post(
            f"{env.runtime.api_url}/v1/sessions/{session.id}/resume",
            headers=env.auth(session.staff_id),
        ) as response:
            assert response.status == 409
            assert (await response.json())["code"] == "session_not_live"

    async def test_attached_page_keeps_session(self, idle_env: ViewerEnv) -> None:
        """Typing keeps an attached session alive past the idle bound."""
        env = idle_env
        session = await env.open_session()
        page = await env.page(await env.link(session))
        await page.control("ready")
        for step in range(6):
            await page.send("input", data=f"echo tick-{step}\r")
            await until_screen_has(env.runtime, session.id, f"tick-{step}")
            await asyncio.sleep(0.8)
        assert env.events.of("session.closed") == []


class TestEndpoints:
    """Where the CLI and users find the viewers."""

    async def test_endpoints_list_viewers(self, env: ViewerEnv) -> None:
        """endpoints.json has ``viewers``: each region's own origin, none shared."""
        document = json.loads((env.runtime.config.state_dir / "endpoints.json").read_text())
        viewers = document["viewers"]
        assert set(viewers) == set(document["gateways"])
        assert viewers[EU] == env.viewer(EU)
        assert len(set(viewers.values())) == len(viewers)
        assert all(url.startswith("http://127.0.0.1:") for url in viewers.values())
