"""Both ends of a main/worker channel in one process, over a real socketpair."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from broker.events import EventSink, MemorySink
from broker.runtime.workers.hub import EventHub, WorkerLink
from broker.runtime.workers.sink import MainLink


@dataclass
class Pair:
    """A hub serving one worker link, and that worker's ``MainLink``."""

    hub: EventHub
    worker: MainLink
    flushes: list[int] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def add_worker(self) -> MainLink:
        """Another worker on the same hub."""
        ours, theirs = socket.socketpair()
        link: WorkerLink = await WorkerLink.over(ours)
        worker: MainLink = await MainLink.over(theirs)
        self.tasks += [
            asyncio.create_task(self.hub.serve(link)),
            asyncio.create_task(worker.listen()),
        ]
        return worker


PairFactory = Callable[[EventSink], Awaitable[Pair]]


@pytest.fixture
async def make_pair() -> AsyncIterator[PairFactory]:
    """Build a hub over a sink with one worker attached; everything stops after the test."""
    pairs: list[Pair] = []

    async def build(sink: EventSink) -> Pair:
        flushes: list[int] = []

        async def flush() -> None:
            flushes.append(len(sink.events) if isinstance(sink, MemorySink) else 0)

        pair = Pair(EventHub(sink, flush), None, flushes)  # type: ignore[arg-type]
        pair.worker = await pair.add_worker()
        pairs.append(pair)
        return pair

    yield build
    for pair in pairs:
        for task in pair.tasks:
            task.cancel()
        await asyncio.gather(*pair.tasks, return_exceptions=True)
