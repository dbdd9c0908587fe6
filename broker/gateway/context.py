"""What every connection of one regional gateway shares."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncssh

from broker.audit.log import get_logger
from broker.auth.failures import AuthFailures
from broker.clock import Clock
from broker.events import EventSink
from broker.gateway.hooks import FilterFactory, RecorderFactory
from broker.gateway.ports import LiveLink
from broker.gateway.settings import GatewaySettings
from broker.gateway.upstream import UpstreamResolver
from broker.models import Session
from broker.store.base import Store
from broker.typing import Region, SessionId, UnitId

log = get_logger("broker.gateway")
"""The gateway's logger: structured events through the redacting pipeline."""


@dataclass(slots=True)
class GatewayContext:
    """Region, dependencies, live links and the pending-login budget."""

    region: Region
    store: Store
    clock: Clock
    events: EventSink
    settings: GatewaySettings
    ca_public: bytes
    ca_key: asyncssh.SSHKey
    client_key: asyncssh.SSHKey
    upstream: UpstreamResolver
    filters: FilterFactory
    recorders: RecorderFactory
    audit_ok: Callable[[], bool] = lambda: True
    """False once the region's audit trail cannot be written: no new logins, live ones cut."""
    unit_id: UnitId | None = None
    """The regional unit this gateway runs in; set, each accepted login records it as the
    session's holder (``Store.hold_session``), so a survivor can take the session over."""
    links: dict[SessionId, LiveLink] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    connections: set[asyncssh.SSHServerConnection] = field(default_factory=set)
    _pending: Counter[str] = field(default_factory=Counter)
    failures: AuthFailures = field(init=False)
    """Failed logins, audited per source and minute (``broker.auth.failures``)."""

    def __post_init__(self) -> None:
        self.failures = AuthFailures(self.emit, self.clock)

    async def claim(self, session_id: SessionId, at: datetime) -> Session:
        """Record this unit as the session's holder, then claim it (``mark_connected``).

        Held first: a connected session always names the unit to take it over
        if this one dies (an SSH login and a view session alike)."""
        if self.unit_id is not None:
            await self.store.hold_session(session_id, self.region, self.unit_id)
        return await self.store.mark_connected(session_id, at)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task; log a crash instead of losing it."""
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway.task_failed", region=self.region, exc_info=task.exception())

    def emit(self, event: str, **fields: object) -> None:
        """Emit an event for this gateway's region."""
        self.events.emit(event, region=self.region, **fields)

    def admit(self, source: str) -> bool:
        """Count a new unauthenticated connection, or refuse it when over budget.

        The per-source cap keeps one flooding address from using the whole
        global budget, so logins from elsewhere still get through.
        """
        total = sum(self._pending.values())
        if total >= self.settings.max_pending:
            return False
        if self._pending[source] >= self.settings.max_pending_per_source:
            return False
        self._pending[source] += 1
        return True

    def release(self, source: str) -> None:
        """A counted connection authenticated or went away."""
        self._pending[source] -= 1
        if self._pending[source] <= 0:
            del self._pending[source]

    @property
    def pending(self) -> int:
        """Unauthenticated connections currently held."""
        return sum(self._pending.values())
