"""``broker console-link`` against a running local broker (what ``make run`` starts)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from broker.runtime.root import Runtime
from tests.cli.test_walkthrough import cli


class TestConsoleLink:
    """The printed link signs its holder in, once."""

    async def test_link_signs_in_once(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The URL is the console's; opened, it lands signed in as the principal asked for;
        opened again, it is refused. endpoints.json names the console."""
        status, out, _ = await cli(
            capsys, "console-link", "--as", "cust-admin-1", "--role", "customer_admin",
            "--org", "acme-de",
        )  # fmt: skip
        assert status == 0
        url = out.strip()
        document = json.loads((running.config.state_dir / "endpoints.json").read_text())
        assert url.startswith(document["console"] + "auth/link?t=")
        # unsafe: the jar keeps cookies of IP-address hosts (the broker is on 127.0.0.1)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(url) as first:
                assert first.status == 200
            async with http.get(document["console"]) as home:
                assert "Signed in as <strong>cust-admin-1</strong>" in await home.text()
        async with aiohttp.ClientSession() as other, other.get(url) as second:
            assert second.status == 401

    async def test_customer_admin_needs_an_org(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A customer admin link without ``--org`` is refused, naming the field."""
        status, _, err = await cli(
            capsys, "console-link", "--as", "cust-admin-1", "--role", "customer_admin"
        )
        assert status == 2
        assert "org" in err
