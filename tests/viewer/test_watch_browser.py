"""Watching and replaying in real Chromium against the real broker.

Pixels, never text: each page's canvas is compared with the server's own
rendering of the screen it shows (the engineer's, a watcher's, a replay's).
A canary the target computes must show in the recording and nowhere in the
replay page: DOM, title, storage, console or WebSocket frames.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from playwright.async_api import Page

from broker.viewer.live import WAITING_BANNER, ViewerSession
from broker.viewer.terminal import TerminalView
from tests.viewer import test_browser
from tests.viewer.browser import (
    Chromium,
    Traffic,
    canvas_image,
    compose,
    differing_pixels,
)
from tests.viewer.live_env import EU, US, ViewerEnv, until, until_screen_has
from tests.viewer.test_browser import open_viewer, quiet, type_line
from tests.viewer.test_replay import replay_link, replay_of, shown
from tests.viewer.test_watch import WATCHERS, require_watch, watch_link

pytestmark = pytest.mark.ssh


async def rendered_equals(page: Page, traffic: Traffic, view: TerminalView, wake: Any) -> None:
    """The page's canvas equals the server's full rendering of ``view``."""
    await quiet(traffic)
    view.repaint()
    expected = compose(view.frame())
    view.repaint()
    wake()
    await quiet(traffic)
    assert differing_pixels(await canvas_image(page), expected) == 0


def live_at(env: ViewerEnv, session_id: str) -> ViewerSession:
    """The live view session in the EU viewer."""
    return env.runtime.viewers[EU].sessions[session_id]  # type: ignore[index]


class TestWatchInBrowser:
    """Ops and the customer admin watch; the engineer's pixels name them."""

    @pytest.mark.parametrize(("who", "role", "org"), WATCHERS)
    async def test_engineer_frame_shows_the_watcher(
        self, env: ViewerEnv, browser: Chromium, who: str, role: str, org: str | None
    ) -> None:
        """Both canvases equal the server's renderings; the engineer's status bar changed
        when the watcher joined, and the server's status names them."""
        page, traffic, session_id = await open_viewer(env, browser)
        await type_line(page, "echo watched-$((3*3))")
        await until_screen_has(env.runtime, session_id, "watched-9")
        live = live_at(env, session_id)
        await quiet(traffic)
        alone = await canvas_image(page)
        session = await env.runtime.store.get_session(session_id)  # type: ignore[union-attr]
        watcher, watcher_traffic = await browser.page()
        await watcher.goto(await watch_link(env, session, who, role, org))
        await watcher.locator("#notice").wait_for(state="hidden")
        await until(lambda: live.view._watchers == (who,))
        await rendered_equals(page, traffic, live.view, live._wake)
        watched = await canvas_image(page)
        assert differing_pixels(alone, watched) > 0  # the status bar now names the watcher
        mirror = live.watchers._all[0]
        await rendered_equals(watcher, watcher_traffic, mirror.view, mirror.page.wake)
        await watcher.keyboard.type("echo from-watcher\n")
        await type_line(page, "echo engineer-$((2*5))")
        screen = await until_screen_has(env.runtime, session_id, "engineer-10")
        assert "from-watcher" not in screen

    async def test_other_orgs_admin_refused(self, env: ViewerEnv, browser: Chromium) -> None:
        """Another org's customer admin gets 404 from the API; no link exists to load."""
        _, _, session_id = await open_viewer(env, browser)
        token = env.authority.mint_token("cust-2", "customer_admin", "bank-de")
        url = f"{env.runtime.api_url}/v1/sessions/{session_id}/watch"
        async with env.http.post(url, headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 404
        assert live_at(env, session_id).view._watchers == ()

    async def test_require_watch_waits_for_the_admin(
        self, env: ViewerEnv, browser: Chromium
    ) -> None:
        """With require_watch, typed keys are held (the page says so) until the org's
        admin has joined; then they run."""
        await require_watch(env)
        session = await env.open_session()
        page, traffic = await browser.page()
        await page.goto(await env.link(session))
        await until_screen_has(env.runtime, session.id, "support@demo-eu-central-1")
        live = live_at(env, session.id)
        assert live.view._banner == WAITING_BANNER
        await rendered_equals(page, traffic, live.view, live._wake)  # the banner, in pixels
        waiting = await canvas_image(page)
        await type_line(page, "echo too-early-$((1+1))")
        await page.locator("#notice").wait_for(state="visible")
        assert "customer's admin" in await page.locator("#notice").inner_text()
        await page.locator("#notice").wait_for(state="hidden")  # a passing notice
        admin, _ = await browser.page()
        await admin.goto(await watch_link(env, session, *WATCHERS[1]))
        await until(lambda: live.view._banner is None)
        await rendered_equals(page, traffic, live.view, live._wake)
        assert differing_pixels(waiting, await canvas_image(page)) > 0  # banner gone, admin named
        await type_line(page, "echo now-$((2+2))")
        screen = await until_screen_has(env.runtime, session.id, "now-4")
        assert "too-early-2" not in screen


async def recorded_with_canary(env: ViewerEnv, browser: Chromium) -> tuple[str, str]:
    """A finished session whose output holds a canary the target computed, and an OSC 52."""
    page, _, session_id = await open_viewer(env, browser)
    seed = secrets.randbelow(10**6) + 10**6
    canary = f"ZQ{seed * 7919}QZ"
    await type_line(page, "printf '\\033]52;c;%s\\007clip-%s\\n' aGk= $((4*4))")
    await until_screen_has(env.runtime, session_id, "clip-16")
    await type_line(page, f"sleep 1; echo ZQ$(({seed}*7919))QZ")
    await until_screen_has(env.runtime, session_id, canary)
    await type_line(page, "exit")
    await until(lambda: bool(env.events.of("session.closed")))
    return session_id, canary


async def slider_to(page: Page, ms: int) -> None:
    """Move the timeline slider as a user's drag ends."""
    await page.evaluate(
        "(ms) => { const t = document.getElementById('timeline'); t.value = String(ms);"
        " t.dispatchEvent(new Event('change')); }",
        ms,
    )


class TestReplayInBrowser:
    """A replay: play, seek to the end and back, jump to the OSC 52 marker."""

    async def test_replay_controls_and_no_text(self, env: ViewerEnv, browser: Chromium) -> None:
        """Controls drive the server's replay; the canvas equals its rendering; the
        recording's text (the canary) is nowhere in the page or its traffic."""
        session_id, canary = await recorded_with_canary(env, browser)
        session = await env.runtime.store.get_session(session_id)  # type: ignore[union-attr]
        page, traffic = await browser.page()
        await page.goto(await replay_link(env, session))
        await page.locator("#replay").wait_for(state="visible")
        end = int(await page.locator("#timeline").get_attribute("max") or 0)
        replay = replay_of(env)
        await page.select_option("#speed", "800")
        await page.click("#play")
        await until(lambda: replay.position * 1000 >= end - 1 and not replay.playing)
        assert canary in shown(replay)
        await slider_to(page, 0)
        await until(lambda: replay.position == 0)
        assert canary not in shown(replay)
        await slider_to(page, end)
        await until(lambda: canary in shown(replay))
        await slider_to(page, 0)
        await until(lambda: replay.position == 0)
        marker = page.locator('#markers button[data-kind="egress_blocked:osc52"]')
        at = int(await marker.get_attribute("data-ms") or -1)
        assert at > 0
        await marker.click()
        await until(lambda: round(replay.position * 1000) == at)
        assert canary not in shown(replay)
        await rendered_equals(page, traffic, replay.view, replay.page.wake)
        await slider_to(page, end)
        await until(lambda: canary in shown(replay))
        await quiet(traffic)
        await self._nowhere(page, traffic, canary)

    async def _nowhere(self, page: Page, traffic: Traffic, canary: str) -> None:
        """The live viewer test's checks: DOM, title, storage, console, frames, clipboard."""
        await test_browser.TestEchoAndCanary()._nowhere(page, traffic, canary)


class TestRawDownload:
    """Against the real runtime: the API refuses an EEA recording, serves a US one."""

    async def test_eea_refused_us_allowed(self, env: ViewerEnv, browser: Chromium) -> None:
        """The EU session's recording is 403 recording_in_region_only; the US one is 200."""
        eu_session, canary = await recorded_with_canary(env, browser)
        us = await env.open_session("eng-us-1", "T-2001")
        us_page = await env.page(await env.link(us))
        await us_page.control("ready")
        await us_page.send("input", data="echo us-$((7*6))\r")
        await until_screen_has(env.runtime, us.id, "us-42", US)
        await us_page.send("input", data="exit\r")
        await us_page.control("end")
        ops = {"Authorization": f"Bearer {env.authority.mint_token('ops-1', 'ops', None)}"}
        base = env.runtime.api_url
        async with env.http.get(f"{base}/v1/sessions/{eu_session}/recording", headers=ops) as got:
            assert got.status == 403
            body = await got.read()
        assert b"recording_in_region_only" in body
        assert canary.encode() not in body
        async with env.http.get(f"{base}/v1/sessions/{us.id}/recording", headers=ops) as got:
            assert got.status == 200
            assert b"us-42" in await got.read()
