"""``FramePump``: immediate after idle, at most one frame per interval in a burst."""

import asyncio

import pytest

from broker.viewer.pump import FramePump


class Source:
    """Counts ``frame`` calls; returns one message per pending change."""

    def __init__(self):
        self.changes = 0
        self.calls = 0

    def frame(self):
        self.calls += 1
        messages = [b"frame %d" % self.calls] if self.changes else []
        self.changes = 0
        return messages


class Clock:
    """A fake monotonic clock; ``sleep`` advances it and yields to the loop."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def settle():
    """Let the pump's task run until it waits again."""
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture
def rig():
    source, clock, sent = Source(), Clock(), []

    async def send(message):
        sent.append(message)

    pump = FramePump(source, send, clock=clock, sleep=clock.sleep)
    return source, clock, sent, pump


class TestFramePump:
    """Coalescing and the first frame, with a fake clock."""

    async def test_first_frame_at_once(self, rig):
        """Starting sends the first frame without sleeping."""
        source, clock, sent, pump = rig
        source.changes = 1
        pump.start()
        await settle()
        assert sent == [b"frame 1"]
        assert clock.sleeps == []
        await pump.stop(final_frame=False)

    async def test_after_idle_renders_immediately(self, rig):
        """A change after a quiet interval is framed with no sleep."""
        source, clock, sent, pump = rig
        pump.start()
        await settle()
        clock.now += 5.0  # idle
        source.changes = 1
        pump.wake()
        await settle()
        assert len(sent) == 1
        assert clock.sleeps == []
        await pump.stop(final_frame=False)

    async def test_burst_is_coalesced(self, rig):
        """100 wakes inside one interval give one more frame, after a sleep
        that ends one interval after the previous frame."""
        source, clock, sent, pump = rig
        source.changes = 1
        pump.start()
        await settle()
        assert len(sent) == 1
        for _ in range(100):
            source.changes += 1
            pump.wake()
        await settle()
        assert len(sent) == 2
        assert source.calls == 2
        assert clock.sleeps == [pytest.approx(1 / 30)]
        await pump.stop(final_frame=False)

    async def test_sustained_burst_rate(self, rig):
        """Waking continuously for 1 s of fake time sends at most 31 frames."""
        source, clock, sent, pump = rig
        pump.start()
        start = clock.now
        while clock.now - start < 1.0:
            source.changes = 1
            pump.wake()
            await settle()
            clock.now += 0.001
        assert 25 <= len(sent) <= 31
        await pump.stop(final_frame=False)

    async def test_stop_sends_final_frame(self, rig):
        """``stop`` flushes what changed since the last frame, then the task ends."""
        source, _clock, sent, pump = rig
        task = pump.start()
        await settle()
        source.changes = 1
        await pump.stop()
        assert sent == [b"frame 2"]
        assert task.done()

    async def test_send_failure_surfaces(self, rig):
        """A failing ``send`` ends the task and ``stop`` raises it."""
        source, _clock, _sent, _pump = rig

        async def broken(message):
            raise ConnectionResetError("socket gone")

        pump = FramePump(source, broken)
        source.changes = 1
        pump.start()
        await settle()
        with pytest.raises(ConnectionResetError):
            await pump.stop()

    async def test_refresh_takes_a_frame_without_wake(self):
        """With ``refresh``, an idle pump frames again when it says (the watermark's
        minute), with no wake."""
        source, sent = Source(), []

        async def send(message):
            sent.append(message)

        pump = FramePump(source, send, refresh=lambda: 0.0 if source.calls else 3600.0)
        pump.start()
        await settle()
        source.changes = 1  # as a new minute would: the view has something to send
        for _ in range(100):
            if sent:
                break
            await asyncio.sleep(0.01)
        assert len(sent) == 1
        await pump.stop(final_frame=False)
