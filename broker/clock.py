"""The clock seam: everything that needs the time asks a ``Clock``.

The policy never reads a clock (time is an input); the store, API and gateway
take a ``Clock`` so tests can move time without sleeping.

Wall-clock time can jump (NTP steps it, an operator sets it); ``monotonic``
cannot. Durations that must not stretch when the wall clock steps back (a
session's remaining lifetime, idleness) are measured with ``monotonic``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time and sleeping, as one small interface."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that only ever grow: for elapsed time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(seconds)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()


class FakeClock:
    """A clock tests set and advance by hand; ``sleep`` advances it instantly."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start
        self._elapsed = 0.0

    def now(self) -> datetime:
        """The clock's current time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: wall time and elapsed time move forward together."""
        if seconds < 0:
            raise ValueError("time does not pass backwards; use jump() to step the wall clock")
        self._now += timedelta(seconds=seconds)
        self._elapsed += seconds

    def jump(self, seconds: float) -> None:
        """Step the wall clock by ``seconds`` (either way) with no time passing, as NTP does."""
        self._now += timedelta(seconds=seconds)

    def monotonic(self) -> float:
        """Elapsed seconds since the start: ``advance`` moves it, ``jump`` does not."""
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        """Advance time and yield to the loop once."""
        self.advance(seconds)
        await asyncio.sleep(0)
