"""Cuts live sessions: on revocation, at expiry, after an idle timeout.

One per gateway, on a thread of its own (``watch_thread``). Every
``poll_interval`` (0.2 s) it asks the store for this region's sessions
that ended since the last revision, so a revocation made through the API
reaches a live shell well within a second. Closing a ticket,
revoking a consent or deactivating staff revoke the sessions in the store,
so they arrive here as revocations too. Deadlines (expiry, idle) are checked
against the gateway's clock on the same tick: a session ends when the wall
clock passes its ``valid_before`` or when as much time has really passed
(monotonic clock), so stepping the wall clock back never lengthens a session
or its idle allowance.

If the store cannot be read for ``stale_after`` seconds, the gateway can no
longer see revocations, so it fails closed and cuts every live session; so
it does, at once, when the region's audit trail can no longer be written. A
tick that fails in any other way counts the same: a watcher must not stop.

The watcher decides what to cut; how a cut is carried out is the ``cut``
callable's business (``WatcherThread._cut``: sever at once, close politely
on the gateway's loop, shut the socket down if the loop is late).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from broker.errors import BrokerError
from broker.gateway.context import GatewayContext, log
from broker.gateway.ports import LiveLink
from broker.typing import SessionId

Cut = Callable[[LiveLink, str], None]
"""Cuts one live link for a reason code; must return without waiting."""

STALE_AFTER = 5.0


LATEST = 2**63 - 1
"""Above every revision a store hands out (SQLite's largest integer)."""


class Watcher:
    """Polls the store and checks deadlines; runs until cancelled."""

    def __init__(self, ctx: GatewayContext, cut: Cut, stale_after: float = STALE_AFTER) -> None:
        self.ctx = ctx
        self.stale_after = stale_after
        self.cut = cut
        self.revision = 0
        self._last_ok: float | None = None  # monotonic: a stepped clock neither hides nor fakes it

    async def prime(self) -> None:
        """Start from the store's current revision (nothing is live yet).

        Asking for changes after the largest revision there can be returns the
        current revision and no rows: a long-lived store is not read whole."""
        self.revision, _ = await self.ctx.store.ended_sessions(self.ctx.region, LATEST)
        self._last_ok = self.ctx.clock.monotonic()

    async def run(self) -> None:
        """Tick forever; a failed tick is logged and counted as an unreadable store."""
        while True:
            await asyncio.sleep(self.ctx.settings.poll_interval)
            try:
                await self.tick()
            except Exception:  # a watcher that stopped would cut nothing
                log.exception("gateway.watcher_failed", region=self.ctx.region)
                self._store_down("watcher_failed")

    async def tick(self) -> None:
        """One round: store changes, the audit trail, then deadlines."""
        await self._poll()
        if not self.ctx.audit_ok():
            # Nothing done in a session could be audited, its end included: fail closed.
            for session_id in list(self.ctx.links):
                self._cut(session_id, "audit_unavailable")
        self._check_deadlines(self.ctx.clock.now())

    async def _poll(self) -> None:
        """Cut every live link whose session the store says has ended."""
        now = self.ctx.clock.monotonic()
        try:
            self.revision, ended = await self.ctx.store.ended_sessions(
                self.ctx.region, self.revision
            )
        except BrokerError as error:
            self._store_down(error.code)
            return
        self._last_ok = now
        for session in ended:
            self._cut(session.id, session.state)  # revoked, closed or expired: the reason

    def _store_down(self, code: str) -> None:
        """Fail closed once the store has been unreadable for too long."""
        log.warning("gateway.changes_unreadable", region=self.ctx.region, code=code)
        if self._last_ok is None or self.ctx.clock.monotonic() - self._last_ok >= self.stale_after:
            for session_id in list(self.ctx.links):
                self._cut(session_id, "store_unavailable")

    def _check_deadlines(self, now: datetime) -> None:
        """Expiry and idle timeout."""
        idle = self.ctx.settings.idle_timeout
        for session_id, link in list(self.ctx.links.items()):
            if link.expired(now):
                self._cut(session_id, "expired")
            elif link.idle_for() >= idle:
                self._cut(session_id, "idle_timeout")

    def _cut(self, session_id: SessionId, reason: str) -> None:
        """Cut one link, unless it is already being cut."""
        link = self.ctx.links.get(session_id)
        if link is not None and link.reason is None and not link.severed:
            self.cut(link, reason)
