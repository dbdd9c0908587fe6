"""Delivery in the background: retries with back-off, bounded, every attempt audited.

A channel (webhook, SNS) supplies one ``Attempt``: try once, say how it went.
The ``Dispatcher`` runs it off the request path, as a task per message:
``submit`` never waits. Each attempt's outcome is an audit event in the
notice's region, ``notify.delivered`` or ``notify.failed`` (with the attempt
number, the HTTP status if any, a reason code and whether it will be tried
again), and a log line; neither carries a URL, a secret or the body.

Bounds: at most ``max_pending`` messages are held (one more is refused at
once: ``notify.failed``, ``reason: queue_full``); each is tried at most
``max_attempts`` times and never after ``give_up_after_seconds``.
``aclose`` waits ``drain_seconds`` for those still running, then cancels
them, each audited ``reason: shutdown``. Nothing is persisted: a broker
killed mid-retry loses those notifications, and the request itself (in the
store, on the console) is what is authoritative.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from broker.clock import Clock
from broker.config.notify import DeliveryPolicy
from broker.errors import BrokerError
from broker.events import EventSink
from broker.notify.payload import Message
from broker.randomness import random_bits

log = structlog.get_logger("broker.notify")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went. ``retry``: worth another try; ``retry_after``: as asked."""

    ok: bool
    reason: str
    status: int | None = None
    retry: bool = False
    retry_after: float | None = None


DELIVERED = Outcome(ok=True, reason="delivered")
Attempt = Callable[[Message], Awaitable[Outcome]]
"""One try at delivering a message; returns an ``Outcome`` and never raises for the
receiver's or the network's faults."""


def random_fraction() -> float:
    """A uniform float in ``[0, 1)`` from the kernel's CSPRNG (the jitter)."""
    return random_bits(53) / (1 << 53)


def backoff(policy: DeliveryPolicy, attempt: int, fraction: float) -> float:
    """Full jitter: ``fraction`` of the capped exponential delay after ``attempt``."""
    growth: float = 2.0 ** (attempt - 1)
    return min(policy.max_delay_seconds, policy.first_delay_seconds * growth) * fraction


class Dispatcher:
    """Runs one channel's deliveries in the background (see the module docstring)."""

    def __init__(
        self,
        channel: str,
        policy: DeliveryPolicy,
        events: EventSink,
        clock: Clock,
        jitter: Callable[[], float] = random_fraction,
    ) -> None:
        self.channel = channel
        self._policy = policy
        self._events = events
        self._clock = clock
        self._jitter = jitter
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Messages not yet delivered or given up."""
        return len(self._tasks)

    def submit(self, message: Message, attempt: Attempt) -> None:
        """Start delivering ``message`` in the background; refuse it when full."""
        if len(self._tasks) >= self._policy.max_pending:
            self._record(message, Outcome(ok=False, reason="queue_full"), 0, final=True)
            return
        task = asyncio.get_running_loop().create_task(self._deliver(message, attempt))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Until every message submitted so far is delivered or given up (for tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self) -> None:
        """Give running deliveries ``drain_seconds``, then cancel (and audit) the rest."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._policy.drain_seconds)
        for task in set(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _deliver(self, message: Message, attempt: Attempt) -> None:
        started, number = self._clock.monotonic(), 0
        try:
            while True:
                number += 1
                outcome = await self._try(message, attempt)
                delay = self._next_delay(outcome, number, started)
                self._record(message, outcome, number, final=delay is None)
                if delay is None:
                    return
                await self._clock.sleep(delay)
        except asyncio.CancelledError:
            self._record(message, Outcome(ok=False, reason="shutdown"), number, final=True)
            raise

    async def _try(self, message: Message, attempt: Attempt) -> Outcome:
        try:
            return await attempt(message)
        except Exception:  # a bug in a channel must not kill the loop silently
            log.exception("notification attempt crashed", channel=self.channel)
            return Outcome(ok=False, reason="internal_error")

    def _next_delay(self, outcome: Outcome, number: int, started: float) -> float | None:
        """Seconds to wait before the next attempt, or None: done (delivered or given up)."""
        if outcome.ok or not outcome.retry or number >= self._policy.max_attempts:
            return None
        delay = outcome.retry_after
        if delay is None:
            delay = backoff(self._policy, number, self._jitter())
        elapsed = self._clock.monotonic() - started
        return None if elapsed + delay > self._policy.give_up_after_seconds else delay

    def _record(self, message: Message, outcome: Outcome, number: int, *, final: bool) -> None:
        """Audit and log one attempt's outcome; an audit failure is logged, not raised."""
        event = "notify.delivered" if outcome.ok else "notify.failed"
        fields = self._fields(message, outcome, number, final=final)
        region = message.notice.region
        try:
            self._events.emit(event, region=region, **fields)
        except BrokerError as error:
            log.error("notification outcome not audited", code=error.code, event_type=event)
        level = log.info if outcome.ok or not final else log.warning
        level(event, region=region, **fields)

    def _fields(
        self, message: Message, outcome: Outcome, number: int, *, final: bool
    ) -> dict[str, object]:
        """The ids and the outcome, never the URL, the secret or the body."""
        notice = message.notice
        fields: dict[str, object] = {
            "org_id": notice.org_id,
            "ticket_id": notice.ticket_id,
            "consent_request_id": notice.request_id,
            "delivery_id": message.delivery_id,
            "channel": self.channel,
            "attempts": number,
            "status": outcome.status,
        }
        if not outcome.ok:
            fields.update(reason=outcome.reason, will_retry=not final)
        return fields
