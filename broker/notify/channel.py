"""A ``Notifier`` over one channel: pick the route, build the message, hand it over.

Each channel (webhook, SNS) only says where a notice goes (``Route``: an
``Attempt`` for it, or None when the org or region has nothing configured);
the message, its delivery id and the background delivery are the same for
every channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from broker.clock import Clock
from broker.ids import time_ordered_uuid
from broker.notify.base import ConsentRequestNotice
from broker.notify.dispatch import Attempt, Dispatcher
from broker.notify.payload import consent_requested

Route = Callable[[ConsentRequestNotice], Attempt | None]


class ChannelNotifier:
    """Announces each notice on one channel, in the background (``Dispatcher``)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        route: Route,
        clock: Clock,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self._route = route
        self._clock = clock
        self._close = close

    async def consent_requested(self, notice: ConsentRequestNotice) -> None:
        """Queue the notice's message; returns at once (delivery never blocks the caller)."""
        attempt = self._route(notice)
        if attempt is None:
            return
        now = self._clock.now()
        self.dispatcher.submit(consent_requested(notice, time_ordered_uuid(now), now), attempt)

    async def aclose(self) -> None:
        """Drain the channel's deliveries (bounded by ``drain_seconds``), then release it."""
        await self.dispatcher.aclose()
        if self._close is not None:
            await self._close()
