"""The console in-process (aiohttp's test client over the real API and store), and helpers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.conftest import Api, running_api

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """The API (with the console mounted) over demo data, with a fake clock."""
    async with running_api(tmp_path) as running:
        yield running


async def sign_in(api: Api, subject: str, role: str, org: str | None = None) -> str:
    """Sign the test client in through a one-time link; the console session's CSRF token."""
    answer = await api.client.post("/console/auth/links", headers=api.token(subject, role, org))
    assert answer.status == 201, await answer.text()
    url = (await answer.json())["url"]
    landed = await api.client.get(url.split(str(api.client.server.port), 1)[1])
    assert landed.status == 200
    home = await api.client.get("/console/")
    found = CSRF.search(await home.text())
    assert found is not None
    return found[1]


def origin(api: Api) -> dict[str, str]:
    """The console's own Origin header (what a browser sends with its forms)."""
    return {"Origin": f"http://127.0.0.1:{api.client.server.port}"}


def replace_cookie(api: Api, value: str) -> None:
    """Make the client's session cookie ``value`` (and nothing else)."""
    jar = api.client.session.cookie_jar
    jar.clear()
    jar.update_cookies({"broker_console": value}, api.client.make_url("/console/"))
