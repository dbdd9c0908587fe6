"""Replaying a recording in its region's viewer: pixels, play, pause, speed, seek.

A ``ReplaySession`` plays one recording into its own ``TerminalView`` (the
same class as live viewing, so the page gets pixels only) for one page. The
page drives it with ``play``, ``pause``, ``speed`` (0.5x to 8x) and ``seek``
(jumps to markers are seeks to a marker's time); it is told the timeline
once (length, markers by time and kind) and the position as it moves. A
seek starts from the nearest snapshot (``broker.viewer.snapshots``), so it
costs the same anywhere in the recording. Keys and pastes are refused
(``read_only``). Start and end are audited like a watch
(``viewer.replay_started``/``viewer.replay_ended``, the viewer's id, role
and how long).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import WSMsgType

from broker.errors import InputError
from broker.gateway.context import GatewayContext
from broker.models import Session
from broker.viewer import protocol
from broker.viewer.page import Page
from broker.viewer.snapshots import Recording, output_bytes, parse_size
from broker.viewer.terminal import TerminalView, Watermark

TICK = 1 / 30
"""Seconds between playback steps (the frame pump coalesces to 30 frames/s anyway)."""
POSITION_EVERY = 0.25
"""Seconds between ``position`` messages while playing."""
BANNER = "replay"


class ReplaySession:
    """One page replaying one recording."""

    def __init__(
        self,
        ctx: GatewayContext,
        session: Session,
        recording: Recording,
        page: Page,
        who: tuple[str, str],
        source_ip: str,
    ) -> None:
        self.ctx = ctx
        self.session = session
        self.recording = recording
        self.page = page
        self.role, self.viewer_id = who
        self.source_ip = source_ip
        mark = Watermark(staff_id=self.viewer_id, session_id=session.id)
        self.view = TerminalView(recording.cols, recording.rows, watermark=mark, scrollback=0)
        self.view.set_status(banner=BANNER)
        self.index = 0
        self.position = 0.0
        self.playing = False
        self.percent = 100
        self._changed = asyncio.Event()
        self._sent_at = 0.0

    # -- the page ------------------------------------------------------------
    async def serve(self) -> None:
        """Show the start, tell the timeline, then follow the page's controls until it goes."""
        started = time.monotonic()
        self._emit("viewer.replay_started")
        await self.page.show(self.view)
        await self.page.send_text(
            protocol.timeline(self._ms(self.recording.duration), self.recording.markers())
        )
        await self._send_position()
        player = asyncio.create_task(self._play(), name="viewer-replay")
        try:
            async for message in self.page.ws:
                if message.type != WSMsgType.TEXT:
                    break
                try:
                    await self.handle(protocol.parse_client(message.data))
                except InputError as error:
                    await self.page.send_text(protocol.error_for(error))
        finally:
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player
            self._emit("viewer.replay_ended", duration_s=int(time.monotonic() - started))

    async def handle(self, message: protocol.ClientMessage) -> None:
        """One control from the page."""
        if isinstance(message, protocol.Play):
            if self.position >= self.recording.duration:
                await self.seek(0.0)
            self.playing = True
        elif isinstance(message, protocol.Pause):
            self.playing = False
        elif isinstance(message, protocol.Speed):
            self.percent = message.percent
        elif isinstance(message, protocol.Seek):
            await self.seek(message.ms / 1000)
        elif isinstance(message, protocol.Input | protocol.Paste):
            raise InputError("type", "a replay takes no input", "read_only")
        elif not isinstance(message, protocol.Resize | protocol.Scroll):
            raise InputError("type", "hello is sent once", "unexpected_message")
        self._changed.set()
        await self._send_position()

    # -- playing -------------------------------------------------------------
    async def seek(self, target: float) -> None:
        """Show the screen at ``target`` seconds: from the nearest snapshot, unless
        playing forward from here is shorter."""
        target = max(0.0, min(target, self.recording.duration))
        snap = self.recording.snapshot_before(target)
        if not (self.index >= snap.index and target >= self.position):
            resized = self.view.size != (snap.cols, snap.rows)
            if resized:
                self.view.resize(snap.cols, snap.rows)
            self.view.feed(b"\x1bc" + snap.screen)
            self.view.take_replies()
            self.index = snap.index
            if resized:
                await self.page.resized()
        await self.advance(target)

    async def advance(self, target: float) -> None:
        """Apply every event up to ``target`` seconds; the page gets the new pixels."""
        events, resized = self.recording.events, False
        while self.index < len(events) and events[self.index][0] <= target:
            _, code, data = events[self.index]
            self.index += 1
            if code == "o":
                self.view.feed(output_bytes(data))
                self.view.take_replies()
            elif code == "r" and (size := parse_size(data)) is not None:
                self.view.resize(*size)
                resized = True
        self.position = target
        if resized:
            await self.page.resized()
        self.page.wake()

    async def _play(self) -> None:
        """Advance while playing, at the chosen speed; wait while paused."""
        last = time.monotonic()
        while True:
            if not self.playing:
                self._changed.clear()
                await self._changed.wait()
                last = time.monotonic()
                continue
            await asyncio.sleep(TICK)
            now = time.monotonic()
            step, last = (now - last) * self.percent / 100, now
            await self.advance(min(self.position + step, self.recording.duration))
            if self.position >= self.recording.duration:
                self.playing = False
                await self._send_position()
            elif now - self._sent_at >= POSITION_EVERY:
                await self._send_position()

    async def _send_position(self) -> None:
        self._sent_at = time.monotonic()
        await self.page.send_text(
            protocol.position(self._ms(self.position), self.playing, self.percent)
        )

    @staticmethod
    def _ms(seconds: float) -> int:
        return round(seconds * 1000)

    def _emit(self, event: str, **more: object) -> None:
        self.ctx.emit(
            event,
            **self.session.ids(),
            actor=self.viewer_id,
            role=self.role,
            source_ip=self.source_ip,
            **more,
        )
