"""Fixtures: the real runtime with its viewers (``tests/viewer/live_env.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.config import Config
from broker.runtime.root import Runtime
from tests.viewer.browser import Chromium, chromium
from tests.viewer.live_env import ViewerEnv, viewer_env

IDLE = 2


@pytest.fixture
async def env(running: Runtime) -> AsyncIterator[ViewerEnv]:
    """A running broker (API, gateways, viewers, demo targets) and a page client."""
    async for made in viewer_env(running):
        yield made


@pytest.fixture
async def idle_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ViewerEnv]:
    """Like ``env``, with a 2-second idle bound, to see detached sessions end."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("BROKER_API", raising=False)
    runtime = Runtime(Config(state_dir=tmp_path / "state", idle_timeout_seconds=IDLE))
    await runtime.start()
    try:
        async for made in viewer_env(runtime):
            yield made
    finally:
        await runtime.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    """Debian's chromium, one per test (``test_page`` has its own, bare)."""
    async for launched in chromium():
        yield launched
