"""AWS mode's event sink: the local hash chain first, then CloudWatch Logs.

The brief for AWS mode is "audit to CloudWatch in addition to the local
chain". ``CloudWatchSink`` does no filtering of its own, so it must only ever
see what the ``Auditor`` kept: this sink sends each event to the auditor
(allowlist, redaction, chain) and mirrors the record *as stored* (with its
``writer``, ``seq``, ``prev`` and ``hash``, so the copy can be matched to the
chain) to the region's log group, in the writer's own log stream
(``mirror_stream``): each writer's chain is one stream, as it is one folder,
so replicas of a region never share a stream. Events of a region without a
log group stay in the local chain only.
"""

from __future__ import annotations

from broker.audit import Auditor
from broker.aws.cloudwatch import CloudWatchSink
from broker.typing import Region, WriterId

_SET_BY_SINK = frozenset({"event", "region", "time"})
"""Keys ``CloudWatchSink.emit`` sets itself."""


def mirror_stream(writer: WriterId) -> str:
    """The log stream that mirrors ``writer``'s chains (one per region's log group)."""
    return f"audit/{writer}"


class AuditMirror:
    """``EventSink``: the auditor's chain, mirrored to CloudWatch per region."""

    def __init__(
        self, auditor: Auditor, cloudwatch: CloudWatchSink, regions: frozenset[Region]
    ) -> None:
        self.auditor = auditor
        self.cloudwatch = cloudwatch
        self.regions = regions

    def check(self, event: str, /, *, region: Region, **fields: object) -> None:
        """The chain is what can refuse; CloudWatch only buffers."""
        self.auditor.check(event, region=region, **fields)

    def emit(self, event: str, /, *, region: Region, **fields: object) -> None:
        """Chain the event (raising as the auditor does), then buffer the stored record."""
        record = self.auditor.emit(event, region=region, **fields)
        if region in self.regions:
            kept = {k: v for k, v in record.items() if k not in _SET_BY_SINK}
            self.cloudwatch.emit(event, region=region, **kept)
