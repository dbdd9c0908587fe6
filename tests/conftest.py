"""Shared fixtures. Real servers on ephemeral loopback ports live in ``tests/fixtures/``."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.config import Config
from broker.runtime import Runtime


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    """A local-mode broker with demo data, demo targets and gateways."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("BROKER_API", raising=False)
    runtime = Runtime(Config(state_dir=tmp_path / "state"))
    await runtime.start()
    yield runtime
    await runtime.stop()
