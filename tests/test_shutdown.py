"""Tests for how child processes wait to be stopped (``broker.shutdown``)."""

from __future__ import annotations

import asyncio
import os
import signal

from broker.shutdown import until_sigterm_or


class TestUntilSigtermOr:
    """``until_sigterm_or``: whichever comes first, and the other cancelled."""

    async def test_other_first(self) -> None:
        """The awaited thing ending first answers False (the parent is gone)."""
        gone = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, gone.set)
        assert await until_sigterm_or(gone.wait()) is False

    async def test_sigterm_first(self) -> None:
        """SIGTERM answers True, and the other wait is cancelled, not left running."""
        loop = asyncio.get_running_loop()
        other = loop.create_future()
        loop.call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        assert await until_sigterm_or(other) is True
        assert other.cancelled()
