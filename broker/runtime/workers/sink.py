"""The worker's end: its ``EventSink`` and its view of the other processes.

An API worker writes no audit chain itself (each region's chain has one
writer, in the main process): every event goes down the channel as it is
emitted. Fail closed as the ``Auditor`` does: once the main process reports
that a region's chain could not be written, or the channel is gone, emitting
for that region raises ``UnavailableError`` and the request fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import structlog

from broker.audit.catalog import FIELD_KINDS, audit_time, check_event_type, check_fields
from broker.errors import UnavailableError
from broker.metrics import Metrics
from broker.runtime.workers.channel import Channel
from broker.typing import Region

log = structlog.get_logger("broker.runtime.workers")

METRICS_PUSH_SECONDS = 1.0
"""How often a worker sends its counters, so any process's ``/metrics`` sums them all."""


class MainLink(Channel):
    """Events to the main process; flushes and summed metrics from it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self._failed: set[str] = set()
        self._batch: list[list[Any]] = []
        self.lost = asyncio.Event()
        """Set when the main process has gone: the worker must stop serving."""

    async def setup(self) -> dict[str, Any]:
        """The first message: what this worker serves, and where."""
        message = await self.receive()
        if message is None or message["kind"] != "setup":
            raise UnavailableError("worker_setup", "the main process sent no setup")
        return message

    def check(self, event: str, /, *, region: Region, **fields: object) -> None:
        """Raise as ``emit`` would now, or as the main process's chain would (``EventSink``)."""
        check_fields(check_event_type(event), fields)
        self._check_region(region)

    def _check_region(self, region: Region) -> None:
        if region in self._failed or self.lost.is_set() or self.closed:
            raise UnavailableError(
                "audit_unavailable", "audit trail could not be written", region=region
            )

    def emit(self, event: str, /, *, region: Region, **fields: object) -> None:
        """Send one event to the region's chain (``EventSink``)."""
        check_event_type(event)
        self._check_region(region)
        for name, value in fields.items():
            if isinstance(value, datetime):
                fields[name] = _audit_time(name, value)
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._send_batch_soon)
        self._batch.append([event, region, fields])

    def send(self, message: dict[str, Any]) -> None:
        """Queue ``message`` after every event emitted before it (a flush must follow them)."""
        self._send_batch()
        super().send(message)

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        if batch:
            super().send({"kind": "events", "events": batch})

    def _send_batch_soon(self) -> None:
        try:
            self._send_batch()
        except UnavailableError:  # the main process is gone: nothing can write them now
            log.error("audit.events_lost", reason="main process gone")

    async def close(self) -> None:
        """Send the events still batched, then close."""
        with contextlib.suppress(UnavailableError):
            self._send_batch()
        await super().close()

    async def flush_events(self) -> None:
        """Return once the main process has written every event sent before this call."""
        await self.request({"kind": "flush"})

    async def metrics(self, own: Metrics) -> Metrics:
        """Every API process's counters summed (the others' as of their last push)."""
        answer = await self.request({"kind": "metrics", "snapshot": own.snapshot()})
        return Metrics.summed([answer["snapshot"]])

    async def push_metrics(self, own: Metrics) -> None:
        """Send ``own`` counters every second until cancelled."""
        while not self.closed:
            self.send({"kind": "metrics", "snapshot": own.snapshot()})
            await asyncio.sleep(METRICS_PUSH_SECONDS)

    async def listen(self) -> None:
        """Take the main process's messages until it closes; then set ``lost``."""
        try:
            while (message := await self.receive()) is not None:
                if message["kind"] == "audit_failed":
                    self._failed.add(str(message["region"]))
                else:
                    self.answered(message)
        finally:
            self.lost.set()
            await self.close()


def _audit_time(name: str, value: datetime) -> str | None:
    """A time as the audit trail stores it; None (dropped) where the auditor would drop it."""
    return audit_time(value) if FIELD_KINDS.get(name) == "time" else None
