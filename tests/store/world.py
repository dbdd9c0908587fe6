"""A small, fixed world of records the store contract tests build on.

Two regions (an EEA one and us-east-1), staff in three countries, open and
closed tickets and one target per org. Builders return sessions and consents
on that world with overridable fields.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.models import Consent, Org, Session, Staff, Target, Ticket
from broker.store.base import ImportBundle
from broker.typing import (
    ConsentId,
    CountryCode,
    OrgId,
    Region,
    SessionId,
    StaffId,
    Subject,
    TargetName,
    TicketId,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EU = Region("eu-central-1")
US = Region("us-east-1")

ORG_DE = Org(OrgId("org-de"), EU, "standard", terminal_access=True)
ORG_EEA = Org(OrgId("org-eea"), EU, "eea_only", record_input=False)
ORG_US = Org(OrgId("org-us"), US, "standard")
STAFF_DE = Staff(StaffId("staff-de"), CountryCode("DE"))
STAFF_US = Staff(StaffId("staff-us"), CountryCode("US"))
STAFF_IN = Staff(StaffId("staff-in"), CountryCode("IN"))
TICKET_DE = Ticket(TicketId("ticket-de"), ORG_DE.id, 2, "product")
TICKET_DE2 = Ticket(TicketId("ticket-de2"), ORG_DE.id, 3, "cas")
TICKET_US = Ticket(TicketId("ticket-us"), ORG_US.id, 1, "product")
TICKET_CLOSED = Ticket(TicketId("ticket-closed"), ORG_DE.id, 4, "product", "closed")
TARGET_DE = Target(ORG_DE.id, TargetName("web"), EU, "127.0.0.1", 2222, host_key="ssh-ed25519 AAAA")
TARGET_US = Target(ORG_US.id, TargetName("web"), US, "127.0.0.2")


def world() -> ImportBundle:
    """Every record of the fixed world."""
    return ImportBundle(
        orgs=[ORG_DE, ORG_EEA, ORG_US],
        staff=[STAFF_DE, STAFF_US, STAFF_IN],
        tickets=[TICKET_DE, TICKET_DE2, TICKET_US, TICKET_CLOSED],
        targets=[TARGET_DE, TARGET_US],
    )


def session(session_id: str = "sess-1", **changes: Any) -> Session:
    """An issued 15-minute session of staff-de on ticket-de, with ``changes``."""
    base = Session(
        id=SessionId(session_id),
        org_id=ORG_DE.id,
        ticket_id=TICKET_DE.id,
        staff_id=STAFF_DE.id,
        target=TARGET_DE.name,
        region=EU,
        basis="intra-eea",
        state="issued",
        created_at=T0,
        valid_before=T0 + timedelta(minutes=15),
    )
    return dataclasses.replace(base, **changes)


def us_session(session_id: str, consent_id: str, **changes: Any) -> Session:
    """A consent-based session of staff-us on ticket-de."""
    return session(
        session_id,
        staff_id=STAFF_US.id,
        basis="consent",
        consent_id=ConsentId(consent_id),
        **changes,
    )


def us_ticket_session(session_id: str, **changes: Any) -> Session:
    """A session on the us-east-1 ticket."""
    return session(
        session_id,
        org_id=ORG_US.id,
        ticket_id=TICKET_US.id,
        region=US,
        basis="not-eea",
        **changes,
    )


def consent(consent_id: str = "consent-1", **changes: Any) -> Consent:
    """A one-hour consent for staff-us on ticket-de, with ``changes``."""
    base = Consent(
        id=ConsentId(consent_id),
        org_id=ORG_DE.id,
        ticket_id=TICKET_DE.id,
        staff_id=STAFF_US.id,
        granted_by=Subject("admin-de"),
        created_at=T0,
        expires_at=T0 + timedelta(hours=1),
    )
    return dataclasses.replace(base, **changes)
