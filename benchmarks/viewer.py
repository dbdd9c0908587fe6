"""The in-region viewer: emulation speed, rendering cost, bytes per echo, latency, memory.

A benchmark, not a test: it reports, it asserts nothing. All in one process,
one thread (one core), so the numbers are the viewer's own cost per session:

- ``plain`` / ``dense``: MB/s through ``TerminalView.feed`` (emulation only),
  fed in 16 KiB reads, beside plain pyte (``pyte.Screen`` + ``ByteStream``)
  on the same bytes in the same run. The streams are the egress benchmark's:
  ASCII log lines, and ``ls --color`` output with an SGR every few bytes, CJK,
  emoji and combining marks;
- ``row_ms`` / ``frame_ms``: rendering and encoding (lossless WebP) one changed 120-column
  row of text, and a whole 120x40 screen of new lines (a flood; median of 10);
  ``first_frame_ms`` is the first frame, with the glyph caches cold;
- ``echo_bytes``: the wire size of the frame for one typed character echoed at
  a prompt on a full 120x40 screen;
- ``latency_p99_ms``: from ``feed`` of the echo to the pump's ``send``, after
  idle (what a keystroke costs the server; the network adds its own);
- ``rss_per_view_mib``: RSS growth per idle view with a full 1,000-line
  scrollback of log lines, over 50 views.

Goals (issue 22): emulation >= 5 MB/s sustained, keystroke to frame p99 <= 30 ms,
<= 20 KB per echo, <= 2 MiB per idle viewer.

Run: ``python -m benchmarks.viewer``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import time
from datetime import UTC, datetime

import pyte

from benchmarks.egress import dense_stream, plain_stream
from broker.viewer.pump import FramePump
from broker.viewer.terminal import TerminalView, Watermark

GOAL_MBPS = 5.0
GOAL_P99_MS = 30.0
GOAL_ECHO_BYTES = 20_000
GOAL_RSS_MIB = 2.0
CHUNK = 16 * 1024
SIZE = 4 * 1024 * 1024
COLS, ROWS = 120, 40


def _mark() -> Watermark:
    fixed = datetime(2026, 12, 4, 15, 31, tzinfo=UTC)
    return Watermark("staff-0042", "8c1e2f3a-6b7d-4e5f-9a0b-1c2d3e4f5a6b", lambda: fixed)


def _view() -> TerminalView:
    return TerminalView(COLS, ROWS, watermark=_mark())


def _feed_mbps(data: bytes, feed: object) -> float:
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    start = time.perf_counter()
    for chunk in chunks:
        feed(chunk)  # type: ignore[operator]
    return len(data) / (time.perf_counter() - start) / 1e6


def emulation(data: bytes) -> tuple[float, float]:
    """MB/s of our view's emulation and of plain pyte, on ``data``."""
    ours = _feed_mbps(data, _view().feed)
    screen = pyte.Screen(COLS, ROWS)
    theirs = _feed_mbps(data, pyte.ByteStream(screen).feed)
    return ours, theirs


def _full_screen(view: TerminalView) -> None:
    view.feed(plain_stream(200_000))
    view.feed(b"\r\n$ ")


def rendering() -> dict[str, float]:
    """ms to render one row, ms for a full frame, bytes for one echo."""
    view = _view()
    _full_screen(view)
    start = time.perf_counter()
    frame = view.frame()
    first_ms = (time.perf_counter() - start) * 1e3
    flood = plain_stream(400_000).split(b"\r\n")
    frames = []
    for i in range(10):  # each frame a screen of lines not seen before
        view.feed(b"\r\n".join(b"%d %s" % (i, line) for line in flood[i * 60 : i * 60 + 60]))
        start = time.perf_counter()
        frame = view.frame()
        frames.append((time.perf_counter() - start) * 1e3)
    rows = 200
    start = time.perf_counter()
    for i in range(rows):
        view.feed(b"\r2026-03-27T10:30:%02d.123Z INFO  worker[%d] GET /api/v1/items/%d 200" % (
            i % 60, i % 7, i))  # fmt: skip
        view.frame()
    row_ms = (time.perf_counter() - start) * 1e3 / rows
    view.feed(b"\r\n$ ")
    view.frame()
    view.feed(b"l")
    echo = view.frame()
    return {
        "first_frame_ms": first_ms,
        "frame_ms": statistics.median(frames),
        "frame_bytes": float(sum(map(len, frame))),
        "row_ms": row_ms,
        "echo_bytes": float(sum(map(len, echo))),
    }


async def _latency(samples: int) -> float:
    """p99 ms from ``feed`` of an echo to its frame's ``send``, after idle."""
    view = _view()
    _full_screen(view)
    sent = asyncio.Event()

    async def send(_message: bytes) -> None:
        sent.set()

    pump = FramePump(view, send)
    pump.start()
    await asyncio.sleep(0.1)
    times = []
    for i in range(samples):
        await asyncio.sleep(0.04)  # idle: longer than one frame interval
        sent.clear()
        start = time.perf_counter()
        view.feed(b"x" if i % 40 else b"\r\n$ ")
        pump.wake()
        await sent.wait()
        times.append((time.perf_counter() - start) * 1e3)
    await pump.stop(final_frame=False)
    return statistics.quantiles(times, n=100)[98]


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(count: int = 50) -> float:
    """RSS growth per idle view with a full scrollback, MiB."""
    _view().frame()  # fonts and caches are shared: load them first
    gc.collect()
    before = _rss_mib()
    views = []
    for _ in range(count):
        view = _view()
        view.feed(plain_stream(120_000))
        view.frame()
        views.append(view)
    gc.collect()
    return (_rss_mib() - before) / count


def run(size: int = SIZE, quick: bool = False) -> dict[str, float]:
    """One measurement of everything."""
    plain, plain_pyte = emulation(plain_stream(size))
    dense, dense_pyte = emulation(dense_stream(size // 4))
    report = {
        "plain_mb_per_s": plain,
        "plain_pyte_mb_per_s": plain_pyte,
        "dense_mb_per_s": dense,
        "dense_pyte_mb_per_s": dense_pyte,
        **rendering(),
        "latency_p99_ms": asyncio.run(_latency(100 if quick else 200)),
    }
    return report


if __name__ == "__main__":
    result = run()
    result["rss_per_view_mib"] = memory()
    print(json.dumps({k: round(v, 3) for k, v in result.items()}, indent=2))
