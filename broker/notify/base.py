"""The notification seam: what the service layer tells an org's admins, and how.

A notice carries ids and a link only, never the request's reason text nor
anything else a person wrote: it leaves the broker (a customer's webhook, a
topic) and may be logged by systems the broker does not control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from broker.typing import ConsentRequestId, OrgId, Region, TicketId


@dataclass(frozen=True, slots=True)
class ConsentRequestNotice:
    """A new consent request waits for the admins of ``org_id``.

    ``link`` is the console page of the request, ``/console/requests/<id>``
    relative to the API's public URL (absolute when that URL is known)."""

    org_id: OrgId
    region: Region
    request_id: ConsentRequestId
    ticket_id: TicketId
    link: str


class Notifier(Protocol):
    """Delivers notices; a failure to deliver must never undo what was notified."""

    async def consent_requested(self, notice: ConsentRequestNotice) -> None:
        """Tell the org's admins that a consent request waits for them."""
        ...


class NullNotifier:
    """Tells no one: the default where no transport is configured."""

    async def consent_requested(self, notice: ConsentRequestNotice) -> None:
        """Do nothing."""
