"""The viewer behind a TLS listener, in real Chromium: links, ``wss:`` and ``Origin``.

A TLS-terminating TCP proxy on loopback (``tests.fixtures.tls_proxy``) plays the
load balancer's viewer listener: it ends TLS and pipes plain TCP to the
viewer's bound port. The broker advertises the proxy's ``https://`` origin,
so the link, the page, its ``wss:`` socket and the ``Origin`` the browser
sends are all the proxy's; the viewer must accept that and nothing else.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.config import Config
from tests.fixtures.tls import loopback_tls
from tests.fixtures.tls_proxy import TlsProxy
from tests.viewer.browser import Chromium, canvas_image, compose, differing_pixels
from tests.viewer.live_env import EU, ViewerEnv, started_env, until_screen_has
from tests.viewer.test_browser import quiet, server_rendering, type_line

pytestmark = pytest.mark.ssh


@pytest.fixture
async def listener(tmp_path: Path) -> AsyncIterator[TlsProxy]:
    """The load balancer's TLS listener on a loopback port (its upstream set later)."""
    proxy = TlsProxy(loopback_tls(tmp_path / "tls").server)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture
async def behind(state: Path, listener: TlsProxy) -> AsyncIterator[ViewerEnv]:
    """The EU unit advertising the listener's origin; the listener piped to its viewer."""
    config = Config(state_dir=state, regions=(EU,), advertise_viewer=listener.origin)
    async with started_env(config) as made:
        listener.target = int(made.runtime.viewers[EU].origin.rsplit(":", 1)[1])
        yield made


class TestBehindTlsListener:
    """A view session opened, typed into and drawn through the TLS listener."""

    async def test_view_session_through_the_listener(
        self, behind: ViewerEnv, listener: TlsProxy, browser: Chromium
    ) -> None:
        """The link is the listener's https origin; loaded there, the page's ``wss:``
        socket through the listener is accepted, a typed echo's canary (computed by the
        target) is drawn exactly as the server renders it, and nothing was refused."""
        session = await behind.open_session()
        url = await behind.link(session)
        assert url.startswith(f"{listener.origin}/#t=")
        page, traffic = await browser.page(any_certificate=True)
        async with page.expect_websocket() as socket:
            await page.goto(url)
        assert (await socket.value).url == f"wss://{listener.origin.removeprefix('https://')}/ws"
        await until_screen_has(behind.runtime, session.id, "support@demo-eu-central-1")
        await page.locator("#notice").wait_for(state="hidden")
        seed = secrets.randbelow(10**6) + 10**6
        await type_line(page, f"echo ZQ$(({seed}*7919))QZ")
        await until_screen_has(behind.runtime, session.id, f"ZQ{seed * 7919}QZ")
        await quiet(traffic)
        expected = compose(server_rendering(behind, session.id))
        await quiet(traffic)
        assert differing_pixels(await canvas_image(page), expected) == 0
        assert behind.events.of("viewer.refused") == []
        assert listener.connections >= 2  # the page, then its wss: socket
