"""Fixtures of the fault tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder the CLI and ssh find (``BROKER_STATE``, ``HOME``); not yet made."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("BROKER_API", raising=False)
    return tmp_path / "state"
