"""The session service's pure pieces (the grant end to end is in tests/api)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from broker.models import Consent, Org, Staff, Target, Ticket
from broker.service.sessions import issued_session
from broker.store.base import GrantRecords
from broker.typing import (
    Basis,
    ConsentId,
    CountryCode,
    OrgId,
    Region,
    StaffId,
    Subject,
    TargetName,
    TicketId,
)

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
ORG, TICKET, STAFF = OrgId("acme-us"), TicketId("T-7"), StaffId("eng-us-1")
WORLD = GrantRecords(
    Staff(STAFF, CountryCode("US")),
    Ticket(TICKET, ORG, 2, "product"),
    Org(ORG, Region("us-east-1"), "standard"),
    Target(ORG, TargetName("app-1"), Region("us-east-1"), "127.0.0.1"),
    Consent(ConsentId("c-1"), ORG, TICKET, STAFF, Subject("admin"), NOW, NOW + timedelta(days=1)),
)


class TestIssuedSession:
    """A new session carries the grant's records, a fresh id and serial, and its expiry."""

    @pytest.mark.parametrize(
        ("basis", "consent_id"),
        [("consent", "c-1"), ("intra-eea", None), ("adequacy", None), ("not-eea", None)],
    )
    def test_consent_named_only_as_the_basis(self, basis: Basis, consent_id: str | None) -> None:
        """A consent on record is tied to the session only when it is why access was given."""
        assert issued_session(WORLD, basis, NOW, 600).consent_id == consent_id

    def test_records_expiry_and_state(self) -> None:
        """Org, ticket, staff, target, region and source come from the call; it starts issued."""
        session = issued_session(WORLD, "consent", NOW, 600, "10.0.0.0/8")
        assert (session.org_id, session.ticket_id, session.staff_id) == (ORG, TICKET, STAFF)
        assert (session.target, session.region) == ("app-1", "us-east-1")
        assert (session.state, session.source_address) == ("issued", "10.0.0.0/8")
        assert (session.created_at, session.valid_before) == (NOW, NOW + timedelta(seconds=600))

    def test_fresh_id_and_serial_each_time(self) -> None:
        """Two sessions for the same request never share an id or a certificate serial."""
        first, second = (issued_session(WORLD, "consent", NOW, 600) for _ in range(2))
        assert first.id != second.id
        assert first.cert_serial != second.cert_serial
        assert first.cert_serial is not None
        assert first.cert_serial > 0
