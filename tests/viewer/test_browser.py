"""The viewer in real Chromium against the real broker (API, gateway, viewer, demo target).

Results are read back as pixels: the browser's canvas is compared with the
server's own rendering of the same screen. A canary the target prints (it
is computed there, so the keys typed never contain it) must show in that
rendering and nowhere in the browser: not in the DOM, the title, storage,
the console, any WebSocket frame (raw, base64, UTF-16) or the clipboard.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page

from broker.clock import FakeClock
from broker.viewer.protocol import END_REASONS
from tests.viewer.browser import (
    Chromium,
    Traffic,
    canvas_image,
    compose,
    differing_pixels,
    leaks,
    storage,
    wait_for_js,
)
from tests.viewer.live_env import (
    EU,
    US,
    ViewerEnv,
    screen_text,
    until,
    until_screen_has,
)

pytestmark = pytest.mark.ssh
DOCS = Path(__file__).resolve().parents[2] / "docs"
SCREENSHOT_TO_DOCS = "BROKER_DOCS_SCREENSHOT"
"""Set to 1 to write the screenshot to docs/viewer.png (the README's picture)."""
QUIET = 0.6
"""Seconds without a new WebSocket message after which the page has drawn everything."""


def screenshot_path(tmp_path: Path) -> Path:
    """docs/viewer.png when asked for (``BROKER_DOCS_SCREENSHOT=1``), else a temporary file."""
    if os.environ.get(SCREENSHOT_TO_DOCS) == "1":
        return DOCS / "viewer.png"
    return tmp_path / "viewer.png"


async def quiet(traffic: Traffic) -> None:
    """Wait until the page has received nothing for ``QUIET`` seconds (bounded)."""
    async with asyncio.timeout(30):
        while True:
            seen = len(traffic.received)
            await asyncio.sleep(QUIET)
            if len(traffic.received) == seen:
                return


async def open_viewer(env: ViewerEnv, browser: Chromium) -> tuple[Page, Traffic, str]:
    """A view session through the API, its link loaded in Chromium, the shell up."""
    session = await env.open_session()
    page, traffic = await browser.page()
    await page.goto(await env.link(session))
    await until_screen_has(env.runtime, session.id, "support@demo-eu-central-1")
    await page.locator("#notice").wait_for(state="hidden")
    return page, traffic, session.id


async def type_line(page: Page, line: str) -> None:
    """Type ``line`` and Enter as an engineer would."""
    await page.keyboard.type(line)
    await page.keyboard.press("Enter")


def server_rendering(env: ViewerEnv, session_id: str) -> list[bytes]:
    """The server's own full rendering of the live screen; the page gets a full repaint too."""
    live = env.runtime.viewers[EU].sessions[session_id]  # type: ignore[index]
    live.view.repaint()
    frames = live.view.frame()
    live.view.repaint()
    assert live.attached is not None
    live.attached.wake()
    return frames


class TestEchoAndCanary:
    """Typing, reading back by pixels, and text that never reaches the browser."""

    async def test_echo_read_back_and_canary_never_leaves(
        self, env: ViewerEnv, browser: Chromium, tmp_path: Path
    ) -> None:
        """The canvas equals the server's rendering of a screen holding the echo and the
        canary; the canary is nowhere in the browser, its traffic or its clipboard."""
        page, traffic, session_id = await open_viewer(env, browser)
        seed = secrets.randbelow(10**6) + 10**6
        canary = f"ZQ{seed * 7919}QZ"
        await type_line(page, f"echo typed-$((6*7)) ZQ$(({seed}*7919))QZ")
        await type_line(page, f"printf '\\033]0;%s\\007' ZQ$(({seed}*7919))QZ")
        shown = await until_screen_has(env.runtime, session_id, canary)
        assert "typed-42" in shown
        await quiet(traffic)
        before = await canvas_image(page)
        expected = compose(server_rendering(env, session_id))
        await quiet(traffic)
        drawn = await canvas_image(page)
        assert differing_pixels(drawn, expected) == 0
        assert differing_pixels(drawn, compose(traffic.frames())) == 0
        assert differing_pixels(before, drawn) == 0  # the repaint changed nothing: same screen
        await page.screenshot(path=str(screenshot_path(tmp_path)))
        await self._nowhere(page, traffic, canary)

    async def _nowhere(self, page: Page, traffic: Traffic, canary: str) -> None:
        """The canary is absent from DOM, title, storage, console, frames and clipboard."""
        assert canary not in await page.content()
        assert canary not in await page.evaluate("() => document.body.innerText")
        assert canary not in await page.title()
        assert canary not in repr(await storage(page))
        assert canary not in "\n".join(traffic.console)
        assert traffic.received
        assert leaks(canary, traffic.received) == []
        assert leaks(canary, traffic.sent) == []
        await page.evaluate("() => navigator.clipboard.writeText('clipboard-before')")
        await page.keyboard.press("Control+A")
        await page.keyboard.press("Control+C")
        clipboard = await page.evaluate("() => navigator.clipboard.readText()")
        assert canary not in clipboard
        assert clipboard == "clipboard-before"
        selected = await page.evaluate("() => String(window.getSelection())")
        assert canary not in selected


class TestResize:
    """The browser window's size is the PTY's size."""

    async def test_window_resize_changes_pty(self, env: ViewerEnv, browser: Chromium) -> None:
        """A larger window: the server's grid grows and ``stty size`` on the target agrees."""
        page, _traffic, session_id = await open_viewer(env, browser)
        live = env.runtime.viewers[EU].sessions[session_id]  # type: ignore[index]
        first = live.view.size
        await page.set_viewport_size({"width": 1400, "height": 800})
        await until(lambda: live.view.size != first)
        cols, rows = live.view.size
        await type_line(page, "stty size")
        await until_screen_has(env.runtime, session_id, f"{rows} {cols}")
        assert (cols, rows) != first


class TestEndings:
    """The page says why a session ended."""

    async def test_revoke_is_shown(self, env: ViewerEnv, browser: Chromium) -> None:
        """Revoked through the API: the page shows the revocation sentence."""
        page, _traffic, session_id = await open_viewer(env, browser)
        assert env.runtime.store is not None
        await env.revoke(await env.runtime.store.get_session(session_id))
        notice = page.locator("#notice")
        await notice.wait_for(state="visible", timeout=10_000)
        assert await notice.text_content() == END_REASONS["revoked"]


class TestRefusedLinks:
    """Links that do not open a session, in the browser."""

    async def _notice(self, page: Page, url: str) -> str:
        await page.goto(url)
        notice = page.locator("#notice")
        await wait_for_js(
            page, "() => !document.getElementById('notice').textContent.startsWith('Connecting')"
        )
        return str(await notice.text_content())

    async def test_reused_link(self, env: ViewerEnv, browser: Chromium) -> None:
        """The same link in a second page is refused as used."""
        session = await env.open_session()
        url = await env.link(session)
        first, _ = await browser.page()
        await first.goto(url)
        await until_screen_has(env.runtime, session.id, "support@demo-eu-central-1")
        second, _ = await browser.page()
        assert "already used" in await self._notice(second, url)
        assert "support@demo" in screen_text(env.runtime, session.id)

    async def test_expired_link(self, env: ViewerEnv, browser: Chromium) -> None:
        """A link past its 60 s is refused as expired."""
        session = await env.open_session()
        url = await env.link(session)
        later = FakeClock(env.runtime.clock.now() + timedelta(seconds=61))
        env.runtime.gateways[EU].ctx.clock = later  # the EU viewer claims 61 s on
        page, _ = await browser.page()
        assert "expired" in await self._notice(page, url)

    async def test_ended_session_link(self, env: ViewerEnv, browser: Chromium) -> None:
        """A fresh link to a session revoked before it was opened says the session ended."""
        session = await env.open_session()
        url = await env.link(session)
        await env.revoke(session)
        page, _ = await browser.page()
        assert "has ended" in await self._notice(page, url)

    async def test_eu_link_at_us_viewer(self, env: ViewerEnv, browser: Chromium) -> None:
        """An EU session's link opened at the US viewer is refused as another region's."""
        session = await env.open_session()
        url = (await env.link(session)).replace(env.viewer(EU), env.viewer(US))
        page, _ = await browser.page()
        assert "another region" in await self._notice(page, url)
