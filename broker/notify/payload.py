"""The one notification body, shared by every channel: ids and a link, nothing else.

The engineer's reason text, names and countries never go out: a receiver
(a chat room, a ticket system) is outside the region and outside the
broker's control, so it learns only that request ``request`` on ticket
``ticket`` awaits a decision, and where to make it. ``link`` is the console
page of the request, where the admin signs in and sees the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from broker import compact_json
from broker.notify.base import ConsentRequestNotice

CONSENT_REQUESTED = "consent.requested"


@dataclass(frozen=True, slots=True)
class Message:
    """One notification to deliver: its delivery id and its body (compact JSON)."""

    delivery_id: str
    notice: ConsentRequestNotice
    body: bytes


def consent_requested(notice: ConsentRequestNotice, delivery_id: str, at: datetime) -> Message:
    """The ``consent.requested`` message for ``notice``, sent (first) at ``at``."""
    document = {
        "type": CONSENT_REQUESTED,
        "id": delivery_id,
        "org": notice.org_id,
        "region": notice.region,
        "request": notice.request_id,
        "ticket": notice.ticket_id,
        "link": notice.link,
        "sent_at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return Message(delivery_id, notice, compact_json.dumps(document))
