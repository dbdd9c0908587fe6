"""One browser page attached to a view session: its socket and its frame pump.

The page gets binary frames (images of the region's screen) and a few JSON
control messages (``ready``, ``end``, ``error``) that carry codes and our own
fixed sentences, never screen text. The end message goes after the last
frame, then the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from aiohttp import web

from broker.gateway.context import log
from broker.viewer import protocol
from broker.viewer.pump import FramePump
from broker.viewer.terminal import TerminalView

CLOSE_WAIT = 0.5
"""Seconds a page gets to take the end message and close; then its TCP connection is shut."""


class Page:
    """A WebSocket showing one session's screen."""

    def __init__(self, ws: web.WebSocketResponse, sock: socket.socket | None) -> None:
        self.ws = ws
        self.pump: FramePump | None = None
        self._view: TerminalView | None = None
        self._sock = sock
        self._closed = False

    async def show(self, view: TerminalView) -> None:
        """Say ``ready`` (the grid), then send ``view`` as it changes."""
        self._view = view
        await self.send_text(view.ready_message())
        self.pump = FramePump(view, self.ws.send_bytes)
        self.pump.start()

    async def resized(self) -> None:
        """Say ``ready`` again after a resize; the next frame starts a new canvas."""
        if self._view is not None:
            await self.send_text(self._view.ready_message())
            self.wake()

    def wake(self) -> None:
        """The screen changed: send frames (coalesced)."""
        if not self._closed and self.pump is not None:
            self.pump.wake()

    async def send_text(self, message: str) -> None:
        """A control message (codes and fixed sentences only)."""
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(message)

    async def refuse(self, code: str) -> None:
        """An ``error`` message, then close (a refused link or hello)."""
        await self.send_text(protocol.error(code))
        await self.close()

    async def end(self, code: str) -> None:
        """The last frame, the ``end`` message with our sentence for ``code``, then close."""
        if not self._closed:
            await self._stop_frames()
            await self.send_text(protocol.end(code))
        await self.close()

    async def close(self) -> None:
        """Stop frames and close the socket (bounded)."""
        if self._closed:
            return
        await self._stop_frames()
        self._closed = True
        try:
            async with asyncio.timeout(CLOSE_WAIT):
                await self.ws.close()
        except TimeoutError:
            log.info("viewer page did not close its socket in time")
            self.shut_down()

    async def _stop_frames(self) -> None:
        pump, self.pump = self.pump, None
        if pump is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                async with asyncio.timeout(CLOSE_WAIT):
                    await pump.stop()

    def shut_down(self) -> None:
        """End the TCP connection at once; safe from the watcher's thread."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
