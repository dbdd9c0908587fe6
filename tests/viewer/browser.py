"""Real Chromium (Debian's, never a downloaded one) driven by Playwright, for viewer tests.

``Browser`` records what the page exchanged on its WebSockets (with the
browser's own protocol events), its console and its storage, and composes
the server's frame messages into an image the way ``viewer.js`` draws them,
so tests compare pixels, never text.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageChops
from playwright.async_api import Page, WebSocket, async_playwright

from tests.viewer.canvas import Canvas

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def wait_for_js(page: Page, expression: str, seconds: float = 10.0) -> None:
    """Until ``expression`` is true in the page, polled from here.

    Not ``page.wait_for_function``: its in-page poller compiles the predicate,
    which the viewer's CSP (no ``unsafe-eval``) refuses whenever the first
    check is false. ``evaluate`` goes through the DevTools protocol, which the
    page's CSP does not govern.
    """
    deadline = asyncio.get_running_loop().time() + seconds
    while not await page.evaluate(expression):
        assert asyncio.get_running_loop().time() < deadline, f"never true: {expression}"
        await asyncio.sleep(0.05)


@dataclass
class Traffic:
    """Everything one page sent and received on its sockets, and said on its console."""

    sent: list[str | bytes] = field(default_factory=list)
    received: list[str | bytes] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        """Record the page's WebSocket frames (CDP events) and console lines."""
        page.on("websocket", self._socket)
        page.on("console", lambda message: self.console.append(message.text))
        page.on("pageerror", lambda error: self.console.append(str(error)))

    def _socket(self, ws: WebSocket) -> None:
        ws.on("framesent", self._sent)
        ws.on("framereceived", self._received)

    def _sent(self, payload: str | bytes) -> None:
        self.sent.append(payload)

    def _received(self, payload: str | bytes) -> None:
        self.received.append(payload)

    def frames(self) -> list[bytes]:
        """The binary frame messages received, in order."""
        return [m for m in self.received if isinstance(m, bytes)]


def encodings(text: str) -> list[bytes]:
    """``text`` as it could hide in a frame: raw, base64 (3 alignments), UTF-16 LE/BE."""
    raw = text.encode()
    found = [raw, text.encode("utf-16-le"), text.encode("utf-16-be")]
    for shift in range(3):
        chunk = base64.b64encode(b"\0" * shift + raw)[4:-4]  # the stable middle
        found.append(chunk)
    return found


def leaks(text: str, payloads: list[str | bytes]) -> list[int]:
    """Indexes of the payloads holding ``text`` in any of its encodings."""
    needles = encodings(text)
    hits = []
    for index, payload in enumerate(payloads):
        data = payload.encode() if isinstance(payload, str) else payload
        if any(needle in data for needle in needles):
            hits.append(index)
    return hits


def compose(frames: list[bytes]) -> Image.Image:
    """Frame messages applied as ``viewer.js`` applies them (``tests/viewer/canvas.py``)."""
    image = Canvas().apply(frames).image
    assert image is not None, "no CANVAS message"
    return image


async def canvas_image(page: Page) -> Image.Image:
    """The page's canvas pixels, as the browser holds them."""
    url = await page.evaluate("() => document.getElementById('canvas').toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    return Image.open(io.BytesIO(data)).convert("RGB")


def differing_pixels(a: Image.Image, b: Image.Image) -> int:
    """How many pixels differ (sizes must match)."""
    assert a.size == b.size, (a.size, b.size)
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v else 0)
    return diff.histogram()[255]


async def storage(page: Page) -> dict[str, Any]:
    """What the page keeps: local and session storage, cookies."""
    stored: dict[str, Any] = await page.evaluate(
        "() => ({local: JSON.stringify(localStorage), session: JSON.stringify(sessionStorage),"
        " cookie: document.cookie})"
    )
    stored["cookies"] = await page.context.cookies()
    return stored


@dataclass
class Chromium:
    """A launched browser; ``page`` opens a fresh context and page with traffic recorded."""

    browser: Any

    async def page(
        self, size: tuple[int, int] = (1000, 560), *, any_certificate: bool = False
    ) -> tuple[Page, Traffic]:
        """A new page in its own context, clipboard permission granted (to read it back);
        ``any_certificate``: a loopback TLS listener's throwaway certificate is accepted."""
        context = await self.browser.new_context(
            viewport={"width": size[0], "height": size[1]},
            permissions=["clipboard-read", "clipboard-write"],
            ignore_https_errors=any_certificate,
        )
        page = await context.new_page()
        traffic = Traffic()
        traffic.watch(page)
        return page, traffic


async def chromium() -> AsyncIterator[Chromium]:
    """Debian's chromium under Playwright, closed afterwards."""
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield Chromium(browser)
        finally:
            await browser.close()
