"""The main process's end: every worker's events into the one chain per region.

The hub passes each event to the instance's ``EventSink`` (the ``Auditor``,
which keeps the single writer of each region's chain) in the order the
worker sent it. When the sink cannot write a region's chain, every worker is
told, so their next event for that region fails its request (fail closed).
It also answers flush requests (for audit reads) and sums the workers'
metrics; a worker that exits keeps its counts in the sum, so counters never
go down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from broker.errors import BrokerError, UnavailableError
from broker.events import EventSink
from broker.metrics import Metrics
from broker.runtime.workers.channel import Channel
from broker.typing import Region

log = structlog.get_logger("broker.runtime.workers")


class WorkerLink(Channel):
    """The main process's end of one worker's channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        """Resolves with the worker's pid once it listens."""


class EventHub:
    """Serves every worker's channel: events, flushes and metrics."""

    def __init__(self, sink: EventSink, flush: Callable[[], Awaitable[None]]) -> None:
        self._sink = sink
        self._flush = flush
        self._links: set[WorkerLink] = set()
        self._snapshots: dict[WorkerLink, dict[str, Any]] = {}
        self._retired = Metrics()

    async def serve(self, link: WorkerLink) -> None:
        """Handle ``link``'s messages until it closes.

        A message the hub cannot read closes the channel: the worker then
        stops (it can no longer audit) and the supervisor starts another."""
        self._links.add(link)
        try:
            while (message := await link.receive()) is not None:
                await self._handle(link, message)
        except BrokerError as error:
            log.error("api_worker.bad_message", **error.to_dict())
        except (KeyError, TypeError, ValueError) as error:  # well-formed JSON, wrong shape
            log.error("api_worker.bad_message", code="malformed", reason=type(error).__name__)
        finally:
            self._links.discard(link)
            self._retire(link)
            await link.close()

    def metrics(self) -> Metrics:
        """Every worker's counters, summed (as of each one's last push)."""
        return Metrics.summed([self._retired.snapshot(), *self._snapshots.values()])

    async def _handle(self, link: WorkerLink, message: dict[str, Any]) -> None:
        kind = message["kind"]
        if kind == "events":
            for event, region, fields in message["events"]:
                self._emit(event, region, fields)
        elif kind == "flush":
            await self._flush()
            link.send({"kind": "flushed", "id": message["id"]})
        elif kind == "metrics":
            self._snapshots[link] = message["snapshot"]
            if "id" in message:  # a request, not a push: answer with the sum
                summed = self.metrics().snapshot()
                link.send({"kind": "metrics", "id": message["id"], "snapshot": summed})
        elif kind == "ready" and not link.ready.done():
            link.ready.set_result(int(message["pid"]))

    def _emit(self, event: str, region: Region, fields: dict[str, Any]) -> None:
        try:
            self._sink.emit(event, region=region, **fields)
        except UnavailableError as error:
            log.error("audit.unavailable", **error.to_dict())
            for link in list(self._links):
                if not link.closed:
                    link.send({"kind": "audit_failed", "region": region})
        except BrokerError as error:  # a malformed event: its request already ran
            log.error("api_worker.bad_event", **error.to_dict())

    def _retire(self, link: WorkerLink) -> None:
        snapshot = self._snapshots.pop(link, None)
        if snapshot is not None:
            self._retired = Metrics.summed([self._retired.snapshot(), snapshot])
