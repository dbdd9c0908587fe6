"""``FramePump``: frames to the browser as soon as possible, at most 30 a second.

After a quiet spell the first change is rendered at once (the keystroke echo is
what an engineer feels); while output keeps coming, changes are coalesced into
at most one frame per ``1 / rate`` seconds, so a flood costs a bounded amount of
rendering however fast the target writes. A frame that took longer to render
than the interval stretches the gap to the next one by as much, so a flood of
full-screen redraws keeps a viewer to about half a core at most.

With ``refresh`` (``TerminalView.refresh_in``), an idle pump still takes a
frame when the watermark's minute turns, so no strip on screen shows an old
time; otherwise an idle viewer does no work at all.

The clock and sleep are injectable so tests control time without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

MAX_FRAMES_PER_SECOND = 30.0


class FrameSource(Protocol):
    """Anything that turns its changes into frame messages (``TerminalView``)."""

    def frame(self) -> list[bytes]:
        """Messages for everything changed since the last call."""
        ...


class FramePump:
    """Runs as one asyncio task: ``wake`` after a change, ``stop`` at the end.

    Typical use: ``FramePump(view, socket.send_bytes, refresh=view.refresh_in)``.
    """

    def __init__(
        self,
        source: FrameSource,
        send: Callable[[bytes], Awaitable[None]],
        *,
        rate: float = MAX_FRAMES_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        refresh: Callable[[], float] | None = None,
    ) -> None:
        self._source = source
        self._send = send
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._refresh = refresh
        self._wake = asyncio.Event()
        self._stopping = False
        self._last = float("-inf")
        self._busy = 0.0  # how long the last frame took to render
        self._task: asyncio.Task[None] | None = None
        self.frames = 0  # frames sent (a frame is one ``frame()`` call's messages)

    def start(self) -> asyncio.Task[None]:
        """Start the pump's task (once); the first frame goes out at once."""
        if self._task is None:
            self._wake.set()
            self._task = asyncio.create_task(self.run(), name="viewer-frame-pump")
        return self._task

    def wake(self) -> None:
        """Something changed (output, resize, scroll, status): send a frame soon."""
        self._wake.set()

    async def run(self) -> None:
        """Send frames until ``stop``; an exception from ``send`` ends the task."""
        while True:
            await self._until_woken()
            wait = self._last + max(self._interval, self._busy) - self._clock()
            if wait > 0 and not self._stopping:
                await self._sleep(wait)
            if self._stopping:
                return
            await self.flush()

    async def _until_woken(self) -> None:
        """A wake, or the time ``refresh`` names (e.g. the watermark's next minute)."""
        if self._refresh is None:
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, self._refresh())):
                await self._wake.wait()

    async def flush(self) -> None:
        """Send one frame now with everything changed so far."""
        self._wake.clear()
        self._last = self._clock()
        messages = self._source.frame()
        self._busy = self._clock() - self._last
        if messages:
            self.frames += 1
        for message in messages:
            await self._send(message)

    async def stop(self, *, final_frame: bool = True) -> None:
        """End the task; by default send what changed since the last frame first.

        The task is not cancelled but let finish its current frame, so the
        browser never misses part of a frame the view counts as sent. An
        exception the task ended with (a failed ``send``) is raised here.
        """
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await task
        if final_frame:
            await self.flush()
