"""Replay and watching: seek time, replay frames/s at 8x, CPU of one watcher.

A benchmark, not a test: it reports, it asserts nothing. One process, one
thread:

- a generated one-hour recording (a coloured log line every 0.1 s, a resize
  and a blocked-egress marker now and then: 36,000 events) is written to a
  region folder; ``open_s`` is loading it the first time (parsing plus
  building the snapshots) and ``reopen_s`` with the snapshots on disk;
- ``seek_ms_10/50/100``: from a fresh replay at 0, seeking to 10 %, 50 % and
  100 % of the hour, including rendering the frame the page then gets
  (median of 5);
- ``fps_8x``: frames the replay's frame pump sent per second while playing
  at 8x for a few seconds (the pump caps at 30);
- ``watcher_cpu_pct``: CPU time of a busy session (4 MiB of log output with
  a frame every 64 KiB) with one watcher, beside the same without: the
  watcher's extra cost in percent of the engineer's view alone.

Goal (issue 23): a seek anywhere in a one-hour recording <= 1 s.

Run: ``python -m benchmarks.replay``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.egress import plain_stream
from broker.recording import castfile
from broker.typing import Region, SessionId
from broker.viewer import snapshots
from broker.viewer.pump import FramePump
from broker.viewer.replay import ReplaySession
from broker.viewer.terminal import TerminalView, Watermark

GOAL_SEEK_MS = 1000.0
REGION = Region("eu-central-1")
SESSION = SessionId("0190bbbb-0000-7000-8000-000000000001")
HOUR = 3600.0
STEP = 0.1
COLORS = ("31", "32", "33", "36")


def write_hour(state: Path, seconds: float = HOUR) -> Path:
    """A recording of ``seconds`` with a line every ``STEP`` s, in the region's folder."""
    path = castfile.recording_path(state, REGION, SESSION)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [castfile.encode(castfile.minimal_header(REGION, SESSION, 1_764_000_000) | {
        "width": 120, "height": 40}).rstrip(b"\n")]  # fmt: skip
    count = int(seconds / STEP)
    for n in range(count):
        t = round(n * STEP, 3)
        color = COLORS[n % len(COLORS)]
        text = (
            f"\x1b[{color}m{n:08d}\x1b[0m GET /api/v1/items/{n * 7919 % 100000} 200 {n % 97}ms\r\n"
        )
        lines.append(castfile.event_line(t, "o", text).rstrip(b"\n"))
        if n % 3000 == 1500:
            lines.append(
                castfile.event_line(t, "m", "egress.blocked osc52 offset=0 length=9").rstrip(b"\n")
            )
        if n % 9000 == 4500:
            lines.append(castfile.event_line(t, "r", "100x30" if n % 2 else "120x40").rstrip(b"\n"))
    lines.append(castfile.event_line(seconds, "m", castfile.CLOSED + "shell_exited").rstrip(b"\n"))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


class _Page:
    """What a replay needs of its page, without a socket: a frame pump into a counter."""

    def __init__(self) -> None:
        self.pump: FramePump | None = None
        self.bytes = 0

    async def show(self, view: TerminalView) -> None:
        self.pump = FramePump(view, self._send)
        self.pump.start()

    async def _send(self, message: bytes) -> None:
        self.bytes += len(message)

    async def resized(self) -> None:
        """Nothing to tell."""

    async def send_text(self, message: str) -> None:
        """Nothing to tell."""

    def wake(self) -> None:
        if self.pump is not None:
            self.pump.wake()


def _replay(recording: snapshots.Recording, page: Any) -> ReplaySession:
    session = type("S", (), {"id": SESSION, "ids": lambda self: {}})()
    ctx = type("C", (), {"emit": lambda self, *a, **k: None})()
    return ReplaySession(ctx, session, recording, page, ("ops", "ops-1"), "127.0.0.1")  # type: ignore[arg-type]


async def _seek_ms(recording: snapshots.Recording, fraction: float) -> float:
    replay = _replay(recording, _Page())
    replay.view.frame()
    started = time.perf_counter()
    await replay.seek(recording.duration * fraction)
    replay.view.frame()
    return (time.perf_counter() - started) * 1000


async def _fps_8x(recording: snapshots.Recording, seconds: float) -> float:
    page = _Page()
    replay = _replay(recording, page)
    await page.show(replay.view)
    await replay.handle(_msg("speed", percent=800))
    await replay.handle(_msg("play"))
    player = asyncio.create_task(replay._play())
    assert page.pump is not None
    before = page.pump.frames
    await asyncio.sleep(seconds)
    frames = page.pump.frames - before
    player.cancel()
    await page.pump.stop(final_frame=False)
    return frames / seconds


def _msg(kind: str, **fields: Any) -> Any:
    from broker.viewer import protocol

    return protocol.parse_client(json.dumps({"type": kind, **fields}))


def watcher_cpu(size: int = 4 * 1024 * 1024) -> dict[str, float]:
    """CPU seconds for a busy session's output, with and without one watcher."""
    data = plain_stream(size)
    mark = Watermark("staff-0042", SESSION)

    def run(watchers: int) -> float:
        view = TerminalView(120, 40, watermark=mark)
        views = [view] + [view.mirror(Watermark("cust-1", SESSION)) for _ in range(watchers)]
        started = time.process_time()
        for offset in range(0, len(data), 16 * 1024):
            chunk = data[offset : offset + 16 * 1024]
            for one in views:
                one.feed(chunk)
            if offset % (64 * 1024) == 0:
                for one in views:
                    one.frame()
        return time.process_time() - started

    alone, watched = run(0), run(1)
    return {
        "alone_s": alone,
        "watched_s": watched,
        "watcher_cpu_pct": (watched - alone) / alone * 100,
    }


def run(quick: bool = False) -> dict[str, float]:
    """Every replay metric once."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_hour(Path(folder), HOUR / 4 if quick else HOUR)
        started = time.perf_counter()
        recording = snapshots.load(path, REGION)
        opened = time.perf_counter() - started
        started = time.perf_counter()
        recording = snapshots.load(path, REGION)
        reopened = time.perf_counter() - started
        result = {"open_s": opened, "reopen_s": reopened, "events": float(len(recording.events))}
        for pct in (10, 50, 100):
            samples = [asyncio.run(_seek_ms(recording, pct / 100)) for _ in range(5)]
            result[f"seek_ms_{pct}"] = statistics.median(samples)
        result["fps_8x"] = asyncio.run(_fps_8x(recording, 1.0 if quick else 3.0))
    return result | watcher_cpu(1024 * 1024 if quick else 4 * 1024 * 1024)


if __name__ == "__main__":
    print(json.dumps({k: round(v, 3) for k, v in run().items()}, indent=2))
