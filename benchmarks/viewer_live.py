"""The regional viewer, beside the SSH path in the same ``broker run``.

A page is played by aiohttp's WebSocket client speaking the page's protocol
(``broker/viewer/protocol.py``) against the real viewer of the benchmark
region; view sessions are granted through the API like an engineer's.

- ``viewer_latency``: one keystroke to the first frame message that draws
  its echo, p50/p99 over ``KEYS`` keystrokes per run, beside OpenSSH's
  keystroke echo through ``ssh -J`` measured in the same run; and the bytes
  that reached the page per keystroke echo (every message until the frame
  is complete).
- ``viewer_hold``: ``VIEWERS`` pages attached at once to one regional
  process (to an in-process echo target), each screen filled with text, then
  idle: the broker's RSS growth per viewer and its CPU while nobody types.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from benchmarks import sshd
from benchmarks.ssh_env import REGION, TIMEOUT, Env, Row, echo_samples, import_target, row
from broker.gateway.keys import load_gateway_keys

KEYS = 200
"""Keystrokes per run (each followed by a backspace, not measured)."""
SETTLE = 0.03
"""Seconds without a message after which one keystroke's frame is complete."""
VIEWERS = 100
IDLE_WINDOW = 60.0
"""One whole minute: it holds one watermark minute change, which redraws every view."""
BASELINE_WINDOW = 20.0
FILL = "".join(f"{row:02d} " + "abcdefghij" * 7 + "\r\n" for row in range(30))
"""More than a screenful of text, so each held view has full rows and some scrollback."""
GOAL_P99_MS = 30.0
GOAL_BYTES = 20 * 1024
GOAL_RSS_KIB = 2048
GOAL_IDLE_CPU = 2.0
"""Percent of one core that the idle viewers may add to the idle broker: "near 0"."""


@dataclass
class Page:
    """One viewer page's socket, with the bytes it has received."""

    ws: aiohttp.ClientWebSocketResponse
    session_id: str
    received: int = 0
    ready: dict[str, Any] = field(default_factory=dict)

    async def message(self, limit: float = TIMEOUT) -> aiohttp.WSMessage:
        """The next message; a closed socket is an error."""
        got = await self.ws.receive(timeout=limit)
        if got.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            raise RuntimeError(f"viewer socket closed: {got.type} {got.data}")
        self.received += len(got.data)
        return got

    async def frame(self, limit: float = TIMEOUT) -> None:
        """Wait for the next binary frame message."""
        while (await self.message(limit)).type != aiohttp.WSMsgType.BINARY:
            pass

    async def settle(self) -> None:
        """Read until the page has had nothing for ``SETTLE`` seconds."""
        while True:
            try:
                await self.message(SETTLE)
            except TimeoutError:
                return

    async def key(self, data: str) -> None:
        """Type ``data``."""
        await self.ws.send_str(json.dumps({"type": "input", "data": data}))


async def open_page(env: Env, http: aiohttp.ClientSession, target: str) -> Page:
    """Grant a view session, open its link, wait for ``ready`` and the first frame."""
    body = {"ticket_id": "T-1001", "target": target}
    headers = {"Authorization": f"Bearer {env.token}"}
    async with http.post(f"{env.api}/v1/sessions", json=body, headers=headers) as answer:
        grant = await answer.json()
        if answer.status != 201:
            raise RuntimeError(f"view grant failed: HTTP {answer.status} {grant}")
    origin, fragment = grant["viewer_url"].split("/#", 1)
    ws = await http.ws_connect(f"{origin}/ws", origin=origin)
    page = Page(ws, grant["session_id"])
    await ws.send_str(json.dumps({"type": "hello", "token": fragment}))
    while not page.ready:
        got = await page.message()
        if got.type == aiohttp.WSMsgType.TEXT:
            message = json.loads(got.data)
            if message["type"] != "ready":
                raise RuntimeError(f"viewer refused: {message}")
            page.ready = message
    await page.frame()
    return page


async def keystrokes(page: Page, count: int) -> tuple[list[float], float]:
    """Milliseconds from a key to its first frame message, and bytes per echo."""
    await page.key("echo READY-$((1+1))\r")
    await asyncio.sleep(0.5)
    await page.settle()
    samples, start_bytes = [], page.received
    for _ in range(count):
        started = time.perf_counter()
        await page.key("x")
        await page.frame(10)
        samples.append((time.perf_counter() - started) * 1000)
        await page.settle()
        await page.key("\x7f")  # erase it again so the line never wraps
        await page.frame(10)
        await page.settle()
    return samples, (page.received - start_bytes) / (2 * count)


async def viewer_latency(env: Env, runs: int) -> list[Row]:
    """Keystroke to frame (p50, p99) vs ``ssh -J`` echo; bytes on the wire per echo."""
    p50s, p99s, sizes, jump99 = [], [], [], []
    async with aiohttp.ClientSession() as http:
        for _ in range(runs):
            page = await open_page(env, http, "bench-sshd")
            samples, size = await keystrokes(page, KEYS)
            await end(env, page)
            p50s.append(statistics.median(samples))
            p99s.append(statistics.quantiles(samples, n=100)[98])
            sizes.append(size)
            jump = await echo_samples(env, "jump", KEYS)
            jump99.append(statistics.quantiles(jump, n=100)[98])
    baseline99 = statistics.median(jump99)
    p99 = statistics.median(p99s)
    return [
        row("live viewer keystroke to frame p50 ms, WebSocket client", p50s, None, "(info)", True),
        row("live viewer keystroke to frame p99 ms, WebSocket client (vs ssh -J echo p99)",
            p99s, baseline99,
            f"<= {GOAL_P99_MS:g} ms", p99 <= GOAL_P99_MS),
        row("live viewer bytes on the wire per keystroke echo (80x24)", sizes, None,
            f"<= {GOAL_BYTES // 1024} KB", statistics.median(sizes) <= GOAL_BYTES),
    ]  # fmt: skip


async def end(env: Env, page: Page) -> None:
    """End the view session (a closed page alone leaves it running, detached)."""
    await env.revoke(page.session_id)
    await page.ws.close()


async def idle_cpu(env: Env, seconds: float) -> float:
    """The broker's CPU over ``seconds`` while nobody types, in percent of one core."""
    used = cpu_seconds(env.broker.pid)
    await asyncio.sleep(seconds)
    return (cpu_seconds(env.broker.pid) - used) / seconds * 100


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def viewer_hold(env: Env, runs: int) -> list[Row]:
    """``VIEWERS`` idle pages on one regional process: RSS per viewer, idle CPU."""
    echo = sshd.EchoTarget(load_gateway_keys(env.tmp / "state", REGION).client_public())
    await echo.start()
    await import_target(env, "bench-view-echo", echo.port, "bench", echo.host_public())
    pages: list[Page] = []
    try:
        # Unlimited: each page holds one of the session's connections for good.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            baseline = await idle_cpu(env, BASELINE_WINDOW)  # the broker idle, no viewer
            warm = await open_page(env, http, "bench-view-echo")  # fonts, glyph cache, imports
            await asyncio.sleep(1.0)
            before = sshd.rss_kib(env.broker.pid)
            while len(pages) < VIEWERS:
                batch = [open_page(env, http, "bench-view-echo") for _ in range(10)]
                pages += await asyncio.gather(*batch)
            for page in pages:  # a full screen each (the echo target types it back)
                await page.key(FILL)
            await asyncio.gather(*(page.settle() for page in pages))
            await asyncio.sleep(2.0)
            per_viewer = (sshd.rss_kib(env.broker.pid) - before) / len(pages)
            idle = [await idle_cpu(env, IDLE_WINDOW)]
            for page in [warm, *pages]:
                await end(env, page)
    finally:
        await echo.stop()
    return [
        row(f"live viewer RSS KiB per viewer, {VIEWERS} attached, screens full", [per_viewer], None,
            f"<= {GOAL_RSS_KIB} KiB", per_viewer <= GOAL_RSS_KIB),
        row(f"live viewer idle CPU % of a core, {VIEWERS} attached, over a minute"
            " (baseline: broker idle without viewers)", idle, baseline,
            f"adds <= {GOAL_IDLE_CPU:g} %", idle[0] - baseline <= GOAL_IDLE_CPU),
    ]  # fmt: skip
