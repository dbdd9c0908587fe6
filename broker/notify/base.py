"""The notification seam: what the services tell the outside world, and a no-op."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from broker.typing import OrgId, Region, TicketId


@dataclass(frozen=True, slots=True)
class ConsentRequestNotice:
    """A consent request to announce: ids and a link only, never the reason text."""

    org_id: OrgId
    region: Region
    request_id: str
    ticket_id: TicketId
    link: str


class Notifier(Protocol):
    """Tells an org's admins that something awaits them; must never block the caller."""

    async def consent_requested(self, notice: ConsentRequestNotice) -> None:
        """Announce a new consent request."""
        ...


class NullNotifier:
    """Tells nobody: the default when no channel is configured."""

    async def consent_requested(self, notice: ConsentRequestNotice) -> None:
        """Do nothing."""
