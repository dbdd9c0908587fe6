"""Several channels as one ``Notifier``: every notice goes to each of them."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from broker.notify.base import ConsentRequestNotice
from broker.notify.channel import ChannelNotifier

log = structlog.get_logger("broker.notify")


class Fanout:
    """Hands each notice to every channel; one channel's fault never stops the others."""

    def __init__(self, channels: Sequence[ChannelNotifier]) -> None:
        self.channels = tuple(channels)

    async def consent_requested(self, notice: ConsentRequestNotice) -> None:
        """Queue the notice on every channel; never raises (the request it follows stands)."""
        for channel in self.channels:
            try:
                await channel.consent_requested(notice)
            except Exception:  # a notification must never fail the consent request
                log.exception("notification not queued", channel=channel.dispatcher.channel)

    async def aclose(self) -> None:
        """Drain every channel (each bounded by ``drain_seconds``), side by side."""
        for channel in self.channels:
            await channel.aclose()
