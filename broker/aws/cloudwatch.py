"""A second event sink: each region's events to CloudWatch Logs in that region.

``CloudWatchSink`` implements ``EventSink``. ``emit`` only buffers (it never
does I/O, so it never raises on AWS trouble); ``flush`` sends each region's
buffer with batched ``PutLogEvents`` to that region's log group through that
region's client, and keeps whatever failed for the next flush. The buffer is
bounded: beyond ``max_buffer`` the oldest events are dropped and counted in
``dropped`` (the local hash chain still has them).

Feed it what the audit pipeline has already allowlisted and redacted; it
adds no filtering of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from broker.aws.clients import ClientFactory
from broker.aws.errors import AWS_ERRORS, error_code, unavailable
from broker.clock import Clock, SystemClock
from broker.errors import InputError
from broker.typing import Region

MAX_BATCH = 1000
"""Events per ``PutLogEvents`` (AWS allows 10,000 and 1 MiB; this stays well below)."""


class CloudWatchSink:
    """Buffers events per region and ships them to the region's log group."""

    def __init__(
        self,
        clients: ClientFactory,
        log_groups: Mapping[Region, str],
        stream: str,
        *,
        clock: Clock | None = None,
        max_buffer: int = 10_000,
    ) -> None:
        self._clients = clients
        self._groups = dict(log_groups)
        self._stream = stream
        self._clock: Clock = clock or SystemClock()
        self._buffers: dict[Region, deque[dict[str, Any]]] = {
            region: deque(maxlen=max_buffer) for region in self._groups
        }
        self._lock = threading.Lock()
        self._streams: set[Region] = set()
        self.dropped = 0

    def emit(self, event: str, *, region: Region, **fields: object) -> None:
        """Buffer one event for ``region``; ``InputError`` for a region without a log group."""
        buffer = self._buffers.get(region)
        if buffer is None:
            raise InputError("region", "no log group configured for this region")
        now = self._clock.now()
        body = {"event": event, "region": region, "time": now.isoformat(), **fields}
        record = {
            "timestamp": int(now.timestamp() * 1000),
            "message": json.dumps(body, default=str),
        }
        with self._lock:
            if len(buffer) == buffer.maxlen:
                self.dropped += 1
            buffer.append(record)

    def pending(self, region: Region) -> int:
        """Events of ``region`` not yet sent."""
        return len(self._buffers.get(region, ()))

    def flush(self) -> int:
        """Send every buffered event; returns how many were sent.

        Raises ``UnavailableError`` for the first region that failed, after
        trying all; unsent events stay buffered.
        """
        sent, failure = 0, None
        for region in self._buffers:
            try:
                sent += self._flush_region(region)
            except AWS_ERRORS as error:
                failure = failure or unavailable("audit_cloudwatch_failed", "logs", error)
        if failure is not None:
            raise failure
        return sent

    def _flush_region(self, region: Region) -> int:
        with self._lock:
            batch = list(self._buffers[region])[:MAX_BATCH]
        if not batch:
            return 0
        client = self._clients.client("logs", region)
        self._ensure_stream(client, region)
        batch.sort(key=lambda e: e["timestamp"])
        answer = client.put_log_events(
            logGroupName=self._groups[region], logStreamName=self._stream, logEvents=batch
        )
        # CloudWatch silently refuses events too old or too new: count them as dropped.
        rejected = answer.get("rejectedLogEventsInfo") or {}
        self.dropped += sum(1 for i in range(len(batch)) if _rejected(i, rejected))
        sent = {id(e) for e in batch}
        with self._lock:
            buffer = self._buffers[region]
            # Compare identities: events dropped from a full buffer meanwhile are not resent.
            while buffer and id(buffer[0]) in sent:
                buffer.popleft()
        return len(batch) + self._flush_region(region)

    def _ensure_stream(self, client: Any, region: Region) -> None:
        if region in self._streams:
            return
        try:
            client.create_log_stream(logGroupName=self._groups[region], logStreamName=self._stream)
        except AWS_ERRORS as error:
            if error_code(error) != "ResourceAlreadyExistsException":
                raise
        self._streams.add(region)

    async def run(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Flush every ``interval`` seconds until ``stop``, then once more."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.flush)


def _rejected(index: int, info: dict[str, int]) -> bool:
    too_old = index < info.get("tooOldLogEventEndIndex", 0)
    expired = index < info.get("expiredLogEventEndIndex", 0)
    too_new = "tooNewLogEventStartIndex" in info and index >= info["tooNewLogEventStartIndex"]
    return too_old or expired or too_new
