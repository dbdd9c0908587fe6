"""The event seam: what the API and gateway emit, and the audit trail records.

``EventSink`` is the one small interface every producer uses; the audit
package's ``Auditor`` implements it (allowlist, redaction, hash chain). A
region is mandatory: an event is written only in the region it concerns.
"""

from __future__ import annotations

from typing import Protocol

from broker.typing import Region


class EventSink(Protocol):
    """Receives structured events; implementations must not raise on I/O
    trouble they can retry, and must never write ``region``'s events elsewhere."""

    def emit(self, event: str, /, *, region: Region, **fields: object) -> object:
        """Record one event of type ``event`` for ``region`` (the result is unused)."""
        ...

    def check(self, event: str, /, *, region: Region, **fields: object) -> None:
        """Raise as ``emit`` would for these arguments now, recording nothing.

        Every write checks its events first, so a write and its audit record
        succeed or fail together (an unknown type, a field that cannot be
        encoded, a trail that refuses writes all fail the request before it
        changes anything)."""
        ...


class MemorySink:
    """Keeps events in a list: for tests and for tools that inspect events."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def emit(self, event: str, /, *, region: Region, **fields: object) -> None:
        """Append the event."""
        self.events.append({"event": event, "region": region, **fields})

    def check(self, event: str, /, *, region: Region, **fields: object) -> None:
        """A list accepts anything."""

    def of(self, event: str) -> list[dict[str, object]]:
        """Every recorded event of one type."""
        return [e for e in self.events if e["event"] == event]


class TeeSink:
    """Sends every event to several sinks (e.g. the local chain and CloudWatch)."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: str, /, *, region: Region, **fields: object) -> None:
        """Emit to each sink in order."""
        for sink in self.sinks:
            sink.emit(event, region=region, **fields)

    def check(self, event: str, /, *, region: Region, **fields: object) -> None:
        """Check with each sink."""
        for sink in self.sinks:
            sink.check(event, region=region, **fields)
