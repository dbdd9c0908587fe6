"""Contract: sessions, their conditional creation and their one-way transitions."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from broker.errors import ConflictError, InputError, NotFoundError, RegionMismatch
from broker.models import Staff
from broker.store.base import ImportBundle, SessionQuery, Store
from broker.typing import ConsentId, CountryCode, SessionId, StaffId
from tests.store.contract_base import StoreHarness
from tests.store.world import (
    EU,
    ORG_US,
    STAFF_DE,
    STAFF_IN,
    STAFF_US,
    T0,
    TICKET_CLOSED,
    TICKET_DE,
    consent,
    session,
    us_session,
    us_ticket_session,
)

MINUTE = timedelta(minutes=1)

REFUSED: list[Any] = [
    pytest.param({"ticket_id": TICKET_CLOSED.id}, ConflictError, id="ticket-closed"),
    pytest.param({"staff_id": StaffId("staff-off")}, ConflictError, id="staff-inactive"),
    pytest.param({"consent_id": ConsentId("c-revoked")}, ConflictError, id="consent-revoked"),
    pytest.param({"consent_id": ConsentId("c-expired")}, ConflictError, id="consent-expired"),
    pytest.param({"consent_id": ConsentId("c-short")}, ConflictError, id="consent-ends-first"),
    pytest.param({"consent_id": ConsentId("c-other")}, InputError, id="consent-other-staff"),
    pytest.param({"region": ORG_US.region}, RegionMismatch, id="region-not-org-region"),
    pytest.param({"org_id": ORG_US.id}, InputError, id="org-not-ticket-org"),
]

BAD_INPUT: list[Any] = [
    pytest.param({"state": "connected"}, "state", id="not-issued"),
    pytest.param({"basis": "consent"}, "consent_id", id="consent-basis-without-consent"),
    pytest.param({"basis": "hope"}, "basis", id="unknown-basis"),
    pytest.param({"valid_before": T0}, "valid_before", id="empty-lifetime"),
    pytest.param({"created_at": T0.replace(tzinfo=None)}, "created_at", id="naive-time"),
    pytest.param({"access": "telnet"}, "access", id="unknown-access"),
]


async def _refusal_world(store: Store) -> None:
    """Consents in every unusable state, and an inactive staff member."""
    inactive = Staff(StaffId("staff-off"), CountryCode("DE"), active=False)
    await store.import_bundle(ImportBundle(staff=[inactive]))
    await store.add_consent(consent("c-revoked", staff_id=STAFF_DE.id))
    await store.revoke_consent(ConsentId("c-revoked"), T0)
    await store.add_consent(
        consent("c-expired", staff_id=STAFF_DE.id, created_at=T0 - 2 * MINUTE, expires_at=T0)
    )
    await store.add_consent(consent("c-short", staff_id=STAFF_DE.id, expires_at=T0 + MINUTE))
    await store.add_consent(consent("c-other", staff_id=STAFF_IN.id))


class SessionContract(StoreHarness):
    """Creating, reading, listing and ending sessions."""

    async def test_create_reads_back(self, store: Store) -> None:
        """A created session reads back field for field."""
        await store.add_consent(consent())
        created = us_session("sess-us", "consent-1", source_address="127.0.0.5", cert_serial=9)
        assert await store.create_session(created) == created
        assert await store.get_session(created.id) == created

    @pytest.mark.parametrize("access", ["view", "terminal"])
    async def test_access_round_trips(self, store: Store, access: Any) -> None:
        """A session's access mode is stored with it; a view session has no serial."""
        serial = None if access == "view" else 11
        created = session(access=access, cert_serial=serial)
        assert await store.create_session(created) == created
        assert await store.get_session(created.id) == created
        assert (await store.list_sessions(SessionQuery())).items == [created]

    async def test_consent_waiver_round_trips(self, store: Store) -> None:
        """A consent's ``waives_eea_only`` is stored and read back by every read."""
        given = await store.add_consent(consent(waives_eea_only=True))
        plain = await store.add_consent(consent("consent-2", staff_id=STAFF_IN.id))
        assert await store.get_consent(given.id) == given
        assert {c.id: c.waives_eea_only for c in await store.list_consents(TICKET_DE.id)} == {
            given.id: True,
            plain.id: False,
        }
        assert await store.valid_consent(TICKET_DE.id, STAFF_US.id, T0) == given

    async def test_times_come_back_as_aware_utc(self, store: Store) -> None:
        """Times given with any offset come back as the same instant in UTC."""
        berlin = timezone(timedelta(hours=1))
        given = session(
            created_at=T0.astimezone(berlin), valid_before=(T0 + MINUTE).astimezone(berlin)
        )
        await store.create_session(given)
        got = await store.get_session(given.id)
        assert got.created_at == T0
        assert got.created_at.utcoffset() == timedelta(0)
        assert got.valid_before.tzinfo is not None
        assert got.valid_before.utcoffset() == timedelta(0)

    @pytest.mark.parametrize(("changes", "error"), REFUSED)
    async def test_create_refused_writes_nothing(
        self, store: Store, changes: dict[str, Any], error: type[Exception]
    ) -> None:
        """When the world is no longer as the policy saw it, nothing is written."""
        await _refusal_world(store)
        before, _ = await store.ended_sessions(EU, 0)
        with pytest.raises(error):
            await store.create_session(session("sess-x", **changes))
        with pytest.raises(NotFoundError):
            await store.get_session(SessionId("sess-x"))
        assert (await store.list_sessions(SessionQuery())).items == []
        assert (await store.ended_sessions(EU, before))[1] == []

    @pytest.mark.parametrize(("changes", "field"), BAD_INPUT)
    async def test_create_bad_input_names_field(
        self, store: Store, changes: dict[str, Any], field: str
    ) -> None:
        """A malformed session is an input error naming the field."""
        with pytest.raises(InputError) as caught:
            await store.create_session(session(**changes))
        assert caught.value.field == field

    async def test_duplicate_id_conflicts(self, store: Store) -> None:
        """A second session with a taken id conflicts; the first stands."""
        first = session()
        await store.create_session(first)
        with pytest.raises(ConflictError):
            await store.create_session(session(staff_id=STAFF_IN.id, basis="scc"))
        assert await store.get_session(first.id) == first

    @pytest.mark.parametrize("state", ["revoked", "closed", "expired"])
    async def test_end_once_and_answer_stands(self, store: Store, state: Any) -> None:
        """Ending twice conflicts the second time; the first answer stands."""
        await store.create_session(session())
        ended = await store.end_session(SessionId("sess-1"), state, "first", T0 + MINUTE)
        assert (ended.state, ended.end_reason, ended.ended_at) == (state, "first", T0 + MINUTE)
        with pytest.raises(ConflictError):
            await store.end_session(SessionId("sess-1"), "revoked", "second", T0 + 2 * MINUTE)
        assert await store.get_session(SessionId("sess-1")) == ended

    @pytest.mark.parametrize("state", ["issued", "connected", "bogus"])
    async def test_end_needs_an_ended_state(self, store: Store, state: Any) -> None:
        """``end_session`` only moves to an ended state."""
        await store.create_session(session())
        with pytest.raises(InputError) as caught:
            await store.end_session(SessionId("sess-1"), state, "why", T0)
        assert caught.value.field == "state"

    async def test_connect_once(self, store: Store) -> None:
        """``issued`` -> ``connected`` happens once; a second connect conflicts."""
        await store.create_session(session())
        connected = await store.mark_connected(SessionId("sess-1"), T0 + MINUTE)
        assert connected.state == "connected"
        with pytest.raises(ConflictError):
            await store.mark_connected(SessionId("sess-1"), T0 + MINUTE)
        closed = await store.end_session(SessionId("sess-1"), "closed", "logout", T0 + 2 * MINUTE)
        assert closed.state == "closed"

    @pytest.mark.parametrize("ended", [False, True])
    async def test_connect_needs_live_session(self, store: Store, ended: bool) -> None:
        """An ended or time-expired session cannot connect."""
        await store.create_session(session())
        at = T0 + MINUTE
        if ended:
            await store.end_session(SessionId("sess-1"), "revoked", "ops", at)
        else:
            at = session().valid_before
        with pytest.raises(ConflictError):
            await store.mark_connected(SessionId("sess-1"), at)
        assert (await store.get_session(SessionId("sess-1"))).state != "connected"

    async def test_unused_session_past_expiry_reads_expired(self, store: Store) -> None:
        """Issued, never connected, past valid_before: read as expired (the store's clock is T0)."""
        old = session("s-old", created_at=T0 - 30 * MINUTE, valid_before=T0 - MINUTE)
        await store.create_session(old)
        await store.create_session(session("s-new"))
        read = await store.get_session(SessionId("s-old"))
        assert (read.state, read.ended_at, read.end_reason) == (
            "expired", old.valid_before, "expired_unused",
        )  # fmt: skip
        assert (await store.get_session(SessionId("s-new"))).state == "issued"

    @pytest.mark.parametrize(
        ("state", "expected"),
        [(None, {"s-old": "expired", "s-new": "issued", "s-conn": "connected"}),
         ("expired", {"s-old": "expired"}), ("issued", {"s-new": "issued"}),
         ("connected", {"s-conn": "connected"})],
    )  # fmt: skip
    async def test_list_filters_on_the_state_as_read(
        self, store: Store, state: Any, expected: dict[str, str]
    ) -> None:
        """A state filter sees derived states; a connected session is the gateway's to end."""
        await store.create_session(session("s-old", created_at=T0 - 30 * MINUTE, valid_before=T0))
        await store.create_session(session("s-new"))
        conn = session("s-conn", created_at=T0 - 30 * MINUTE, valid_before=T0 - MINUTE)
        await store.create_session(conn)
        await store.mark_connected(conn.id, T0 - 20 * MINUTE)
        page = await store.list_sessions(SessionQuery(state=state))
        assert {s.id: s.state for s in page.items} == expected

    @pytest.mark.parametrize("serial", [0, 7, 2**63, 2**64 - 1])
    async def test_cert_serial_round_trips(self, store: Store, serial: int) -> None:
        """Any unsigned 64-bit serial chosen at issue is stored exactly."""
        await store.create_session(session(cert_serial=serial))
        assert (await store.get_session(SessionId("sess-1"))).cert_serial == serial

    async def test_cert_serial_unique(self, store: Store) -> None:
        """Two sessions never share a serial: the second is refused and not stored."""
        await store.create_session(session(cert_serial=5))
        with pytest.raises(ConflictError):
            await store.create_session(session("sess-2", cert_serial=5))
        with pytest.raises(NotFoundError):
            await store.get_session(SessionId("sess-2"))

    @pytest.mark.parametrize("serial", [-1, 2**64])
    async def test_cert_serial_range(self, store: Store, serial: int) -> None:
        """Serials outside unsigned 64 bits are input errors."""
        with pytest.raises(InputError) as caught:
            await store.create_session(session(cert_serial=serial))
        assert caught.value.field == "serial"

    async def test_ended_sessions_follow_revisions(self, store: Store) -> None:
        """``ended_sessions`` returns the region's sessions that ended after ``since``.

        New and connected sessions move the revision but are not returned:
        a gateway has nothing to cut for them."""
        rev0, before = await store.ended_sessions(EU, 0)
        assert before == []
        await store.create_session(session())
        await store.create_session(session("sess-2"))
        await store.create_session(us_ticket_session("sess-us"))
        await store.mark_connected(SessionId("sess-2"), T0 + MINUTE)
        rev1, ended = await store.ended_sessions(EU, rev0)
        assert rev1 > rev0
        assert ended == []
        await store.end_session(SessionId("sess-us"), "revoked", "ops", T0 + MINUTE)
        await store.end_session(SessionId("sess-2"), "closed", "eof", T0 + MINUTE)
        await store.end_session(SessionId("sess-1"), "revoked", "ops", T0 + MINUTE)
        rev2, ended = await store.ended_sessions(EU, rev1)
        assert rev2 > rev1
        assert [(s.id, s.state) for s in ended] == [("sess-2", "closed"), ("sess-1", "revoked")]
        assert await store.ended_sessions(EU, rev2) == (rev2, [])

    async def test_times_must_carry_offset(self, store: Store) -> None:
        """A naive ``at`` is refused rather than guessed."""
        await store.create_session(session())
        with pytest.raises(InputError) as caught:
            await store.end_session(SessionId("sess-1"), "closed", "x", T0.replace(tzinfo=None))
        assert caught.value.field == "at"
        assert (await store.get_session(SessionId("sess-1"))).state == "issued"
