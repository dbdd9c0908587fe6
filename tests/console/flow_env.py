"""The whole broker (API, gateways, viewers, demo targets) with the console trusting a real
OpenID provider, a webhook receiver for acme-de, and Chromium: the console's end-to-end world.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page

from broker.auth.local import LocalAuthority
from broker.config import Config
from broker.models import Session
from broker.runtime.root import Runtime
from broker.typing import SessionId
from tests.console.idp import console_config, free_port, oidc_login, running_idp
from tests.fixtures.webhook import Receiver, serve_receiver
from tests.viewer.browser import Chromium

WEBHOOK_SECRET = b"console-flow-webhook-secret-0123456789"
ACME = "Sign in as an administrator of acme-de"
SHOP = "Sign in as an administrator of shop-us"


@dataclass
class Flow:
    """The running broker, its HTTP client and token minting, the receiver and a browser."""

    runtime: Runtime
    http: aiohttp.ClientSession
    authority: LocalAuthority
    receiver: Receiver
    browser: Chromium

    @property
    def console(self) -> str:
        """The console's base URL."""
        return f"{self.runtime.api_url}/console"

    def auth(self, subject: str, role: str = "engineer", org: str | None = None) -> dict[str, str]:
        """A bearer header (the CLI's local token) for API calls."""
        return {"Authorization": f"Bearer {self.authority.mint_token(subject, role, org)}"}

    async def api(
        self, method: str, path: str, who: dict[str, str], body: Any = None
    ) -> tuple[int, Any]:
        """One API call: status and JSON answer."""
        url = self.runtime.api_url + path
        async with self.http.request(method, url, json=body, headers=who) as response:
            return response.status, await response.json(content_type=None)

    async def session(self, session_id: str) -> Session:
        """The session as stored now."""
        assert self.runtime.store is not None
        return await self.runtime.store.get_session(SessionId(session_id))

    async def signed_in_page(self, button: str, login: str) -> Page:
        """A fresh browser context signed in through the provider as ``login``."""
        page, _ = await self.browser.page(size=(1280, 800))
        await oidc_login(page, self.runtime.api_url, button, login)
        await page.wait_for_url(f"{self.console}/")
        return page


@asynccontextmanager
async def running_flow(tmp_path: Path, browser: Chromium) -> AsyncIterator[Flow]:
    """Provider, receiver and broker, started in that order (each needs the one before)."""
    port = free_port()
    secret = tmp_path / "acme-de.key"
    secret.write_bytes(WEBHOOK_SECRET)
    secret.chmod(0o600)
    async with running_idp(port, tmp_path) as idp:
        async for receiver in serve_receiver(tmp_path, https=False):
            hook = {"url": receiver.url, "secret_file": str(secret)}
            notify = {"allow_http_loopback": True, "webhooks": {"acme-de": hook}}
            config = Config(
                state_dir=tmp_path / "state",
                api_port=port,
                console=console_config(idp),
                notify=notify,
            )
            runtime = Runtime(config)
            await runtime.start()
            try:
                authority = LocalAuthority.from_state(config.state_dir, clock=runtime.clock)
                async with aiohttp.ClientSession() as http:
                    yield Flow(runtime, http, authority, receiver, browser)
            finally:
                await runtime.stop()
