"""The pending-login budget."""

from __future__ import annotations

from pathlib import Path

import asyncssh

from broker.clock import SystemClock
from broker.events import MemorySink
from broker.gateway.context import GatewayContext
from broker.gateway.hooks import identity_filter, null_recorder
from broker.gateway.settings import GatewaySettings
from broker.gateway.upstream import InventoryUpstream
from broker.store.sqlite.store import SqliteStore
from broker.typing import Region


def _ctx(tmp_path: Path) -> GatewayContext:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return GatewayContext(
        Region("eu-central-1"), SqliteStore(tmp_path / "db"), SystemClock(), MemorySink(),
        GatewaySettings(max_pending=3, max_pending_per_source=2), b"", key, key,
        InventoryUpstream(SqliteStore(tmp_path / "db"), key), identity_filter, null_recorder,
    )  # fmt: skip


class TestPendingBudget:
    """Per-source and global caps."""

    def test_caps(self, tmp_path: Path) -> None:
        """One source gets two slots; the global cap is three; release frees a slot."""
        ctx = _ctx(tmp_path)
        assert ctx.admit("a")
        assert ctx.admit("a")
        assert not ctx.admit("a")
        assert ctx.admit("b")
        assert not ctx.admit("c")
        ctx.release("a")
        assert ctx.admit("c")
        assert ctx.pending == 3
