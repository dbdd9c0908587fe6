"""Fixtures: the real runtime with its viewers (``tests/viewer/live_env.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.config import Config
from broker.runtime.root import Runtime
from tests.viewer.browser import Chromium, chromium
from tests.viewer.live_env import PUBLIC, ViewerEnv, started_env, viewer_env

IDLE = 2


@pytest.fixture
async def env(running: Runtime) -> AsyncIterator[ViewerEnv]:
    """A running broker (API, gateways, viewers, demo targets) and a page client."""
    async for made in viewer_env(running):
        yield made


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state folder of a runtime a test configures, HOME and BROKER_STATE its own."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("BROKER_API", raising=False)
    return tmp_path / "state"


@pytest.fixture
async def idle_env(state: Path) -> AsyncIterator[ViewerEnv]:
    """Like ``env``, with a 2-second idle bound, to see detached sessions end."""
    async with started_env(Config(state_dir=state, idle_timeout_seconds=IDLE)) as made:
        yield made


@pytest.fixture
async def public_env(state: Path) -> AsyncIterator[ViewerEnv]:
    """Like ``env``, its viewer links advertising ``PUBLIC`` (``advertise_viewer``)."""
    async with started_env(Config(state_dir=state, advertise_viewer=PUBLIC)) as made:
        yield made


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    """Debian's chromium, one per test (``test_page`` has its own, bare)."""
    async for launched in chromium():
        yield launched
