"""Failed authentications, aggregated per source and interval before they are audited.

Used by the API (bearer tokens) and by each gateway (SSH logins). One audit
record per failed request or connection let anyone without a credential flood
the region's trail. Instead the first failure of a source (and reason) in an
interval is audited at once, ``count`` 1, so an attack shows up promptly; the
rest of that interval's failures from the same source are counted and written
as one more record, ``count`` N, when the interval ends. The counts of a
source's records add up to exactly its failures.

Memory is bounded: at most ``max_sources`` (source, reason, session) keys are tracked
in an interval; failures from further sources are counted together under the
source ``OVERFLOW``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from broker.clock import Clock

OVERFLOW = "overflow"
"""The ``source_ip`` of failures counted together once ``max_sources`` are tracked."""

Emit = Callable[..., object]
_Key = tuple[str, str, str | None]


class AuthFailures:
    """Counts failed authentications per (source, reason); audits them aggregated."""

    def __init__(
        self, emit: Emit, clock: Clock, *, interval: float = 60.0, max_sources: int = 4096
    ) -> None:
        self._emit = emit
        self._clock = clock
        self._interval = interval
        self._max_sources = max_sources
        self._pending: dict[_Key, int] = {}
        """(source, reason, session) seen this interval -> failures not yet audited."""
        self._started: float | None = None

    def failed(
        self, source_ip: str | None, reason: str, session_id: str | None = None, **fields: object
    ) -> None:
        """Note one failure: audited now if it is the source's first this interval.

        A refusal about one session (``session_id``) is counted apart from the
        rest, so the trail still names every session someone was refused for."""
        self.flush_due()
        key = (source_ip or "unknown", reason, session_id)
        if key not in self._pending and len(self._pending) >= self._max_sources:
            key = (OVERFLOW, reason, None)
        if key in self._pending:
            self._pending[key] += 1
            return
        if self._started is None:
            self._started = self._now()
        self._pending[key] = 0
        self._record(key, 1, fields)

    @property
    def tracked(self) -> int:
        """How many keys this interval holds: ``max_sources`` + 1 at most."""
        return len(self._pending)

    def flush_due(self) -> None:
        """Audit the counted failures if the current interval is over."""
        if self._started is not None and self._now() - self._started >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Audit every counted failure now and start a new interval."""
        pending, self._pending, self._started = self._pending, {}, None
        for key, count in pending.items():
            if count:
                self._record(key, count, {})

    def _record(self, key: _Key, count: int, fields: dict[str, object]) -> None:
        source_ip, reason, session_id = key
        named = {} if session_id is None else {"session_id": session_id}
        self._emit(
            "auth.failed",
            source_ip=source_ip,
            reason=reason,
            count=count,
            interval_seconds=int(self._interval),
            **named,
            **fields,
        )

    def _now(self) -> float:
        return self._clock.now().timestamp()

    @contextlib.asynccontextmanager
    async def flushing(self, every: float = 1.0) -> AsyncIterator[None]:
        """While open, close due intervals every ``every`` seconds; flush all at the end."""
        task = asyncio.create_task(self._flush_loop(every))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.flush()

    async def _flush_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self.flush_due()
