"""Fixtures: the real runtime with its viewers (``tests/viewer/live_env.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from broker.runtime import Runtime
from tests.viewer.live_env import ViewerEnv, viewer_env


@pytest.fixture
async def env(running: Runtime) -> AsyncIterator[ViewerEnv]:
    """A running broker (API, gateways, viewers, demo targets) and a page client."""
    async for made in viewer_env(running):
        yield made
