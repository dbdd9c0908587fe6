"""The grant benchmark's load generator: closed loop, and a fixed rate counted from when due."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from benchmarks.http_load import Load, build_request, run_load


@dataclass(slots=True)
class SlowServer:
    """An HTTP server answering 201: every answer waits ``delay`` seconds, the first
    ``first_delay`` more; ``served`` counts the requests."""

    url: str
    delay: float = 0.0
    first_delay: float = 0.0
    served: int = 0


@pytest.fixture
async def slow_server() -> AsyncIterator[SlowServer]:
    """A ``SlowServer`` on an ephemeral loopback port."""
    slow = SlowServer("")

    async def create(request: web.Request) -> web.Response:
        slow.served += 1
        await request.read()
        await asyncio.sleep(slow.delay + (slow.first_delay if slow.served == 1 else 0.0))
        return web.Response(status=201, text="{}")

    app = web.Application()
    app.router.add_post("/v1/sessions", create)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    slow.url = str(server.make_url("/v1/sessions"))
    try:
        yield slow
    finally:
        await server.close()


class TestRunLoad:
    """``run_load`` in both of its ways of loading."""

    async def test_paced_latency_counts_from_when_due(self, slow_server: SlowServer) -> None:
        """A request that waits for an earlier answer counts that wait (no coordinated omission).

        One connection, a request due every 0.05 s, answers taking at least
        0.15 s: request ``k`` cannot be sent before ``(k + 1) * 0.15`` s, so
        from when it was due it took at least ``0.15 + 0.1 * k`` s. Timed from
        its sending instead, each would show about 0.15 s."""
        url = slow_server.url
        slow_server.delay = 0.15
        request = build_request(url, b"{}", {})
        result = await run_load(url, request, Load(clients=1, seconds=0.6, rate=20))
        assert len(result.latencies) >= 2
        for k, latency in enumerate(result.latencies):
            assert latency >= 0.15 + 0.1 * k - 0.005  # perf_counter rounding
        assert result.bad_statuses == []

    async def test_paced_never_sends_more_than_due(self, slow_server: SlowServer) -> None:
        """At 50 a second for 0.5 s at most 25 requests go out; flat out, many more."""
        url = slow_server.url
        request = build_request(url, b"{}", {})
        paced = await run_load(url, request, Load(clients=2, seconds=0.5, rate=50))
        flat = await run_load(url, request, Load(clients=2, seconds=0.5))
        assert 0 < len(paced.latencies) <= 25
        assert len(flat.latencies) > 25

    async def test_warm_up_is_not_timed(self, slow_server: SlowServer) -> None:
        """Requests sent during the warm-up load the server but get no latency.

        The server's first answer takes 0.3 s, inside a 0.4 s warm-up; the
        requests that follow it are timed until 0.3 s after the warm-up."""
        url = slow_server.url
        slow_server.first_delay = 0.3
        load = Load(clients=1, seconds=0.3, warmup=0.4)
        result = await run_load(url, build_request(url, b"{}", {}), load)
        # the slow first answer came in the warm-up, untimed
        assert 0 < len(result.latencies) < slow_server.served

    async def test_unexpected_status_is_reported(self, slow_server: SlowServer) -> None:
        """Answers other than the expected status are collected, not timed."""
        url = slow_server.url
        request = build_request(url, b"{}", {})
        result = await run_load(url, request, Load(clients=1, seconds=0.2), expect=200)
        assert result.latencies == []
        assert set(result.bad_statuses) == {201}
