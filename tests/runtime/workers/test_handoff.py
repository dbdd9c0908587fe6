"""Dealing accepted connections from the main process to the workers."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from broker.runtime.workers.handoff import Dealer, handoff_pair, receive_connections


@dataclass
class Worker:
    """One simulated worker: the connections it adopted."""

    adopted: list[socket.socket] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


@dataclass
class Setup:
    """A dealer on a loopback port with two simulated workers."""

    dealer: Dealer
    port: int
    workers: list[Worker]


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    """A dealer serving 127.0.0.1:<ephemeral> with two workers attached."""
    listener = socket.create_server(("127.0.0.1", 0))
    dealer = Dealer(listener)
    workers = [Worker(), Worker()]
    for slot, worker in enumerate(workers):
        ours, theirs = handoff_pair()
        dealer.attach(slot, ours)
        worker.task = asyncio.create_task(receive_connections(theirs, worker.adopted.append))
    serving = asyncio.create_task(dealer.serve())
    yield Setup(dealer, listener.getsockname()[1], workers)
    serving.cancel()
    dealer.close()
    tasks = [w.task for w in workers if w.task is not None]
    await asyncio.wait(tasks, timeout=5)  # each ends when the dealer's end closes
    for worker in workers:
        for connection in worker.adopted:
            connection.close()


async def connect(setup: Setup, count: int) -> list[asyncio.StreamWriter]:
    """``count`` client connections to the dealer's port."""
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", setup.port)
        writers.append(writer)
    return writers


async def adopted_counts(setup: Setup, total: int) -> list[int]:
    """How many connections each worker adopted, once ``total`` have arrived."""
    for _ in range(100):
        if sum(len(w.adopted) for w in setup.workers) >= total:
            break
        await asyncio.sleep(0.02)
    return [len(w.adopted) for w in setup.workers]


async def close_all(writers: list[asyncio.StreamWriter]) -> None:
    """Close the client side of every connection."""
    for writer in writers:
        writer.close()
        await writer.wait_closed()


class TestDealer:
    """``Dealer`` with ``receive_connections`` on the other end."""

    async def test_in_turn(self, setup: Setup) -> None:
        """Six connections, two workers: three each."""
        writers = await connect(setup, 6)
        assert await adopted_counts(setup, 6) == [3, 3]
        await close_all(writers)

    async def test_adopted_socket_is_the_client_connection(self, setup: Setup) -> None:
        """What a worker adopts is the client's connection itself: bytes flow both ways."""
        reader, writer = await asyncio.open_connection("127.0.0.1", setup.port)
        await adopted_counts(setup, 1)
        served = next(c for w in setup.workers for c in w.adopted)
        served.setblocking(True)
        writer.write(b"ping")
        await writer.drain()
        assert await asyncio.to_thread(served.recv, 4) == b"ping"
        await asyncio.to_thread(served.sendall, b"pong")
        assert await reader.readexactly(4) == b"pong"
        await close_all([writer])

    async def test_a_gone_worker_is_skipped(self, setup: Setup) -> None:
        """A worker whose end is closed gets nothing more; the other takes every connection."""
        first = setup.workers[0]
        assert first.task is not None
        first.task.cancel()
        setup.dealer.detach(0)
        writers = await connect(setup, 4)
        assert await adopted_counts(setup, 4) == [0, 4]
        await close_all(writers)

    async def test_no_worker_closes_the_connection(self, setup: Setup) -> None:
        """With no worker to take it, the client's connection is closed unanswered."""
        setup.dealer.detach(0)
        setup.dealer.detach(1)
        reader, writer = await asyncio.open_connection("127.0.0.1", setup.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        await close_all([writer])

    async def test_failed_accept_does_not_stop_accepting(
        self, setup: Setup, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Out of descriptors for a moment: the dealer waits and keeps accepting."""
        loop = asyncio.get_running_loop()
        real = loop.sock_accept
        failures = [OSError(errno.EMFILE, "Too many open files")]

        async def flaky(sock: socket.socket) -> Any:
            if failures:
                raise failures.pop()
            return await real(sock)

        monkeypatch.setattr(loop, "sock_accept", flaky)
        writers = await connect(setup, 2)
        assert sum(await adopted_counts(setup, 2)) == 2
        await close_all(writers)
