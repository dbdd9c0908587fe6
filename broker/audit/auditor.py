"""The audit facade every component writes through.

``auditor.emit("session.issued", region=org.region, session_id=..., ...)``
checks the event type, keeps only the type's allowlisted fields, scrubs them
with the region's key, stamps UTC time from the clock and appends the record to
this auditor's chain of that region, which lives only under
``<state>/regions/<region>/audit/<writer>/``. The region is a parameter, never
a field, so no event can name another region than the folder it lands in.

Each process that writes audit names itself with ``writer`` (default
``main``): every writer has its own chain per region, its own lock and its own
anchors, so replicas of a region write side by side and never contend.
``verify`` checks every chain of a region, ``query`` merges them in time order.

With an ``AuditAnchor`` the auditor also anchors its chains' sealed heads
outside the state folder (``broker.audit.anchor``): ``open`` checks each
chain against its latest anchor before anything is written, discloses
an unanchored tail with an ``audit.tail_sealed`` event, and anchors;
``anchor`` (every second, from ``flush_every``) flushes and anchors every head
that moved; ``aclose`` closes the writers and writes each chain's final anchor.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from broker.audit.anchor import TAIL_EVENT, AuditAnchor, anchor_of, unproven
from broker.audit.catalog import build_fields, check_event_type, check_fields, format_time
from broker.audit.chain import ChainConfig, ChainWriter
from broker.audit.chains import region_chains
from broker.audit.keys import FileSecretSource, SecretSource
from broker.audit.reader import AuditQuery, Page, query_region
from broker.audit.redact import Redactor
from broker.audit.verify import RegionVerdict, verify_region
from broker.clock import Clock
from broker.errors import BrokerError, UnavailableError
from broker.models import Anchor
from broker.state import MAIN_WRITER, StateLayout, check_region, check_writer
from broker.typing import Region, WriterId


class Auditor:
    """Writes its own chain of each region; flushes, verifies and queries all of a region's."""

    def __init__(
        self,
        state_dir: Path,
        clock: Clock,
        *,
        secrets: SecretSource | None = None,
        config: ChainConfig | None = None,
        anchor: AuditAnchor | None = None,
        writer: WriterId = MAIN_WRITER,
    ) -> None:
        self._state = Path(state_dir)
        self.writer = check_writer(writer)
        """This process's writer id: the chain of each region it appends to."""
        self._clock = clock
        self._secrets = secrets if secrets is not None else FileSecretSource(self._state)
        self._config = config
        self.redactor = Redactor(self._secrets)
        """The region-keyed scrubber; share it with logging, API errors and recordings."""
        self._writers: dict[str, ChainWriter] = {}
        self._lock = threading.Lock()
        self._anchor = anchor
        self._anchored: dict[str, Anchor] = {}  # the last anchor written (or found) per region
        self._unchecked: set[str] = set()  # opened, not yet checked against the anchor
        self._anchoring = asyncio.Lock()  # one anchor pass at a time (numbers are sequential)

    @property
    def state_dir(self) -> Path:
        """The state directory whose ``regions/`` this auditor writes."""
        return self._state

    def emit(self, event_type: str, /, *, region: str, **fields: Any) -> dict[str, Any]:
        """Append one event to ``region``'s chain; returns the record as stored."""
        check_event_type(event_type)
        writer = self._writer(region)
        kept = build_fields(event_type, fields, self.redactor.region(region))
        return writer.append(format_time(self._clock.now()), event_type, kept)

    def check(self, event_type: str, /, *, region: str, **fields: Any) -> None:
        """Raise as ``emit`` would for these arguments now, writing nothing (``EventSink``)."""
        check_fields(check_event_type(event_type), fields)
        self._writer(region).check()

    def flush(self) -> None:
        """Make every emitted event durable in every region.

        ``UnavailableError`` names the first region whose trail failed; the
        other regions are flushed all the same."""
        failed: UnavailableError | None = None
        for writer in list(self._writers.values()):
            try:
                writer.flush()
            except UnavailableError as error:
                failed = failed or error
        if failed is not None:
            raise failed

    def close(self) -> None:
        """Flush and close every region's writer."""
        with self._lock:
            writers, self._writers = list(self._writers.values()), {}
        for writer in writers:
            writer.close()

    def writable(self, region: str) -> bool:
        """False once ``region``'s trail has failed (or was closed); True before it opens."""
        writer = self._writers.get(region)
        return writer is None or writer.usable

    def verify(self, region: str) -> RegionVerdict:
        """Flush ``region`` and verify every chain of it (seals included).

        An anchoring auditor also checks its own chain against the last anchor
        it wrote or found (in memory, so no I/O beyond the chains); ``averify``
        checks every writer's chain against its anchor."""
        self._flush_region(region)
        own = self._anchor is not None and region in self._writers
        if not own or region in self._unchecked:
            return verify_region(self._state, region, self._secrets)
        anchors = {self.writer: self._anchored.get(region)}
        return verify_region(self._state, region, self._secrets, anchors)

    async def averify(self, region: str) -> RegionVerdict:
        """``verify``, each chain checked against its latest anchor too (when anchoring).

        This auditor's own chain is judged by the last anchor it wrote or found
        (in memory); every other writer's by the anchor place's latest."""
        await asyncio.to_thread(self._flush_region, region)
        if self._anchor is None:
            return await asyncio.to_thread(verify_region, self._state, region, self._secrets)
        checked = check_region(region)
        writers = region_chains(self._state, checked).keys() | set(
            await self._anchor.writers(checked)
        )
        anchors: dict[WriterId, Anchor | None] = {}
        for writer in sorted(writers):
            anchors[writer] = await self._latest_of(checked, writer)
        return await asyncio.to_thread(verify_region, self._state, region, self._secrets, anchors)

    async def _latest_of(self, region: Region, writer: WriterId) -> Anchor | None:
        if writer == self.writer and region in self._writers and region not in self._unchecked:
            return self._anchored.get(region)
        assert self._anchor is not None
        return await self._anchor.latest(region, writer)

    def query(self, region: str, query: AuditQuery) -> Page:
        """Flush ``region`` and read matching records of all its chains back, merged."""
        self._flush_region(region)
        return query_region(self._state, region, query)

    def _flush_region(self, region: str) -> None:
        writer = self._writers.get(region)
        if writer is not None:
            writer.flush()

    async def flush_every(self, seconds: float) -> None:
        """Flush (and anchor) periodically until cancelled, off the event loop (fsync blocks)."""
        while True:
            await self._clock.sleep(seconds)
            # A failed region's trail refuses its events, which reports it; keep flushing the
            # rest. An anchor that cannot be written leaves an unproven tail, which verify reports.
            with contextlib.suppress(BrokerError):
                await self.anchor()

    async def open(self, regions: list[Region]) -> None:
        """Open each region's chain, check it against its anchor, and anchor it.

        Every region is tried; then the first failure is raised: ``audit_chain_broken``
        for a chain that was truncated or rewritten, or extended after a clean stop
        (that region's trail then refuses every event, the others work), or an
        anchor place that cannot be reached (the check is retried every pass)."""
        failed: BrokerError | None = None
        for region in regions:
            try:
                await asyncio.to_thread(self._writer, region)
            except BrokerError as error:
                failed = failed or error
        try:
            await self.anchor()
        except BrokerError as error:
            failed = failed or error
        if failed is not None:
            raise failed

    async def anchor(self, *, final: bool = False) -> None:
        """Flush every region and anchor each head that moved; without an anchor, flush.

        Every region is tried; the first failure is raised after."""
        if self._anchor is None:
            await asyncio.to_thread(self.flush)
            return
        failed: BrokerError | None = None
        async with self._anchoring:
            for region, writer in list(self._writers.items()):
                try:
                    await self._anchor_region(region, writer, final=final)
                except BrokerError as error:
                    failed = failed or error
        if failed is not None:
            raise failed

    def use_anchor(self, anchor: AuditAnchor) -> None:
        """Anchor from now on (the runtime knows the store only after the auditor exists).

        Regions already open are checked against their anchor at the next pass."""
        self._anchor = anchor
        with self._lock:
            self._unchecked.update(self._writers)

    async def aclose(self) -> None:
        """Close every writer, then write each region's final anchor (a clean stop)."""
        with self._lock:
            writers, self._writers = dict(self._writers), {}
        healthy = {region: writer.usable for region, writer in writers.items()}
        for region, writer in writers.items():
            try:
                await asyncio.to_thread(writer.close)
            except UnavailableError:
                healthy[region] = False
        if self._anchor is None:
            return
        async with self._anchoring:
            for region, writer in writers.items():
                # Never anchor what was never checked; after a failed write the files may hold
                # records HEAD does not: no final anchor, so the next start treats it as a crash.
                if healthy[region] and region not in self._unchecked:
                    await self._put(region, writer, final=True)

    async def _anchor_region(self, region: str, writer: ChainWriter, *, final: bool) -> None:
        if region in self._unchecked:
            await self._check(region, writer)
        await asyncio.to_thread(writer.flush)
        last = self._anchored.get(region)
        if last is None or last.seq != writer.head.seq or last.final != final:
            await self._put(region, writer, final=final)

    async def _put(self, region: str, writer: ChainWriter, *, final: bool) -> None:
        assert self._anchor is not None
        last = self._anchored.get(region)
        number = 1 if last is None else last.number + 1
        anchor = anchor_of(writer.head, number, format_time(self._clock.now()), final=final)
        await self._anchor.put(anchor)
        self._anchored[region] = anchor

    async def _check(self, region: str, writer: ChainWriter) -> None:
        """Judge the chain as opened against the latest anchor; disclose an unanchored tail."""
        assert self._anchor is not None
        latest = await self._anchor.latest(Region(region), self.writer)
        try:
            folder = StateLayout(self._state).audit_chain(region, self.writer)
            tail = unproven(folder, writer.opened, latest)
        except ValueError as why:
            writer.fail()
            raise UnavailableError(
                "audit_chain_broken", f"audit chain contradicts its anchor ({why})", region=region
            ) from None
        self._unchecked.discard(region)
        if latest is not None:
            self._anchored[region] = latest
        if tail:
            after = 0 if latest is None else latest.seq
            reason = "unanchored" if latest is None else "crash"
            self.emit(TAIL_EVENT, region=region, records=tail, after_seq=after, reason=reason)

    def _writer(self, region: str) -> ChainWriter:
        writer = self._writers.get(region)
        if writer is None:
            with self._lock:
                writer = self._writers.get(region)
                if writer is None:
                    writer = self._open_writer(check_region(region))
                    self._writers[region] = writer
                    if self._anchor is not None:
                        self._unchecked.add(region)
        return writer

    def _open_writer(self, region: Region) -> ChainWriter:
        """Open this auditor's chain of ``region`` (``main`` adopts a chain from before writers)."""
        layout = StateLayout(self._state)
        return ChainWriter(
            layout.audit_chain(region, self.writer), region, self._secrets.secret(region),
            self._config, writer=self.writer,
            adopt=layout.audit(region) if self.writer == MAIN_WRITER else None,
        )  # fmt: skip

    def __enter__(self) -> Auditor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
