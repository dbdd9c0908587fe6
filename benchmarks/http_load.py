"""A lean HTTP/1.1 load generator: keep-alive connections, one request in flight each.

The grant benchmark measures the broker, so the client must cost little of
the 2 cores they share. aiohttp's client spends about as much CPU per request
as the server's whole handler; this sends one pre-encoded request per
connection and parses only the status line and ``Content-Length``.

Two ways to load:

- closed loop (``rate=None``): each connection sends its next request as soon
  as the answer to the last one is in. The server runs flat out; the rate is
  its capacity, and latency is what 64 waiting clients make it (Little's law:
  mean = clients / rate);
- a fixed rate (``rate=R``): request ``k`` is due at ``start + k / R``, dealt
  to the connections in turn, as wrk2 does. Latency is counted from when a
  request was *due*, not when it could be sent: if the connection was still
  waiting for an earlier answer, that wait is part of the latency
  ("coordinated omission" would otherwise hide it).
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(slots=True)
class LoadResult:
    """Latency of every completed request, and any non-expected status seen."""

    latencies: list[float] = field(default_factory=list)
    bad_statuses: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Load:
    """How to load: ``clients`` connections, back to back or ``rate`` requests a second
    in all, for ``warmup`` seconds untimed and then ``seconds`` timed."""

    clients: int
    seconds: float
    rate: float | None = None
    warmup: float = 0.0


@dataclass(frozen=True, slots=True)
class _Plan:
    """What every connection of one load sends, and when its clock counts."""

    request: bytes
    expect: int
    record_from: float
    """Requests sent (or due) before this only warm the server up: not timed."""
    until: float


@dataclass(frozen=True, slots=True)
class _Pace:
    """When a connection's requests are due: ``first``, then every ``period`` seconds."""

    first: float
    period: float


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending the plan's request until its end.

    Unpaced, it sends again as soon as an answer is in; paced, when the next
    request is due (at once if that time has passed).
    """

    def __init__(self, plan: _Plan, result: LoadResult, pace: _Pace | None) -> None:
        self._plan = plan
        self._result = result
        self._pace = pace
        self._sent = 0
        self._buffer = bytearray()
        self._started = 0.0
        self._transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._next()

    def _next(self) -> None:
        """Send the next request now, or when it is due."""
        if self._pace is None:
            self._send(time.perf_counter())
            return
        due = self._pace.first + self._sent * self._pace.period
        if due >= self._plan.until:
            self._close()
            return
        delay = due - time.perf_counter()
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._send, due)
        else:
            self._send(due)

    def _send(self, due: float) -> None:
        assert self._transport is not None
        self._started = due
        self._sent += 1
        self._transport.write(self._plan.request)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        length = _content_length(bytes(self._buffer[:head_end]))
        if len(self._buffer) < head_end + 4 + length:
            return
        self._finish(int(self._buffer[9:12]), head_end + 4 + length)

    def _finish(self, status: int, consumed: int) -> None:
        now = time.perf_counter()
        del self._buffer[:consumed]
        if status != self._plan.expect:
            self._result.bad_statuses.append(status)
        elif self._started >= self._plan.record_from:
            self._result.latencies.append(now - self._started)
        if now < self._plan.until:
            self._next()
        else:
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def build_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One POST of ``body`` to ``url`` as raw HTTP/1.1 bytes (JSON, keep-alive)."""
    parts = urlsplit(url)
    lines = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def run_load(url: str, request: bytes, load: Load, *, expect: int = 201) -> LoadResult:
    """Send ``request`` to ``url`` as ``load`` says (see the module's docstring).

    The warm-up loads the server but is not timed: the connections were just
    opened, and their first requests reach the server all at once."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    result = LoadResult()
    start = time.perf_counter() + 0.05  # every connection is open before the first is due
    timed_from = start + load.warmup
    plan = _Plan(request, expect, timed_from, timed_from + load.seconds)
    rate = load.rate
    connections = []
    for index in range(load.clients):
        pace = None if rate is None else _Pace(start + index / rate, load.clients / rate)
        _, protocol = await loop.create_connection(
            functools.partial(_Connection, plan, result, pace),
            parts.hostname,
            parts.port,
        )
        connections.append(protocol)
    await asyncio.gather(*(c.done for c in connections))
    return result
