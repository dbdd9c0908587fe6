"""The audit facade every component writes through.

``auditor.emit("session.issued", region=org.region, session_id=..., ...)``
checks the event type, keeps only the type's allowlisted fields, scrubs them
with the region's key, stamps UTC time from the clock and appends the record to
that region's chain, which lives only under ``<state>/regions/<region>/audit/``.
The region is a parameter, never a field, so no event can name another region
than the folder it lands in.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from broker.audit.chain import ChainConfig, ChainWriter
from broker.audit.events import build_fields, check_event_type, check_fields, format_time
from broker.audit.keys import FileSecretSource, SecretSource, audit_dir, check_region
from broker.audit.reader import AuditQuery, Page, query_region
from broker.audit.redact import Redactor
from broker.audit.verify import VerifyResult, verify_region
from broker.clock import Clock
from broker.errors import UnavailableError


class Auditor:
    """Writes, flushes, verifies and queries the per-region audit chains."""

    def __init__(
        self,
        state_dir: Path,
        clock: Clock,
        *,
        secrets: SecretSource | None = None,
        config: ChainConfig | None = None,
    ) -> None:
        self._state = Path(state_dir)
        self._clock = clock
        self._secrets = secrets if secrets is not None else FileSecretSource(self._state)
        self._config = config
        self.redactor = Redactor(self._secrets)
        """The region-keyed scrubber; share it with logging, API errors and recordings."""
        self._writers: dict[str, ChainWriter] = {}
        self._lock = threading.Lock()

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

    def verify(self, region: str) -> VerifyResult:
        """Flush ``region`` and verify its whole chain (seal included)."""
        writer = self._writers.get(region)
        if writer is not None:
            writer.flush()
        return verify_region(self._state, region, self._secrets)

    def query(self, region: str, query: AuditQuery) -> Page:
        """Flush ``region`` and read matching records back."""
        writer = self._writers.get(region)
        if writer is not None:
            writer.flush()
        return query_region(self._state, region, query)

    async def flush_every(self, seconds: float) -> None:
        """Flush periodically until cancelled, off the event loop (fsync blocks)."""
        while True:
            await self._clock.sleep(seconds)
            # A failed region's trail refuses its events, which reports it; keep flushing the rest.
            with contextlib.suppress(UnavailableError):
                await asyncio.to_thread(self.flush)

    def _writer(self, region: str) -> ChainWriter:
        writer = self._writers.get(region)
        if writer is None:
            with self._lock:
                writer = self._writers.get(region)
                if writer is None:
                    checked = check_region(region)
                    writer = ChainWriter(
                        audit_dir(self._state, checked), checked,
                        self._secrets.secret(checked), self._config,
                    )  # fmt: skip
                    self._writers[region] = writer
        return writer

    def __enter__(self) -> Auditor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
