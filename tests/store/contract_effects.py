"""Contract: side effects travel in the same transaction as their cause.

Revoking a consent, closing a ticket or deactivating staff revokes exactly the
live sessions that depended on it and returns them; nothing else changes.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from broker.errors import ConflictError
from broker.store.base import ImportBundle, Store
from broker.typing import ConsentId, SessionId
from tests.store.contract_base import StoreHarness
from tests.store.world import (
    EU,
    STAFF_DE,
    STAFF_IN,
    STAFF_US,
    T0,
    TICKET_DE,
    TICKET_DE2,
    consent,
    session,
    us_session,
)

LATER = T0 + timedelta(minutes=5)


async def _sessions(store: Store) -> None:
    """Two live consent sessions, one ended one, and bystanders on other keys."""
    await store.add_consent(consent("c-1"))
    await store.add_consent(consent("c-2"))
    await store.create_session(us_session("s-live", "c-1"))
    await store.create_session(us_session("s-connected", "c-1"))
    await store.mark_connected(SessionId("s-connected"), T0)
    await store.create_session(us_session("s-ended", "c-1"))
    await store.end_session(SessionId("s-ended"), "closed", "logout", T0)
    await store.create_session(us_session("s-other-consent", "c-2"))
    await store.create_session(session("s-de"))
    await store.create_session(
        session("s-de2", ticket_id=TICKET_DE2.id, staff_id=STAFF_IN.id, basis="scc")
    )


async def _states(store: Store) -> dict[str, str]:
    ids = ["s-live", "s-connected", "s-ended", "s-other-consent", "s-de", "s-de2"]
    return {i: (await store.get_session(SessionId(i))).state for i in ids}


class EffectContract(StoreHarness):
    """Revocations that cascade to the sessions depending on a record."""

    async def test_revoke_consent_revokes_its_live_sessions(self, store: Store) -> None:
        """Only the consent's live sessions are revoked, and returned."""
        await _sessions(store)
        rev, _ = await store.ended_sessions(EU, 0)
        result = await store.revoke_consent(ConsentId("c-1"), LATER)
        assert result.record.revoked_at == LATER
        assert sorted(s.id for s in result.sessions) == ["s-connected", "s-live"]
        assert {(s.state, s.end_reason, s.ended_at) for s in result.sessions} == {
            ("revoked", "consent_revoked", LATER)
        }
        assert await _states(store) == {
            "s-live": "revoked",
            "s-connected": "revoked",
            "s-ended": "closed",
            "s-other-consent": "issued",
            "s-de": "issued",
            "s-de2": "issued",
        }
        _, changed = await store.ended_sessions(EU, rev)
        assert sorted(s.id for s in changed) == ["s-connected", "s-live"]

    async def test_changes_after_latest_give_revision_only(self, store: Store) -> None:
        """Asking past every revision returns the current one and no rows (watcher priming)."""
        await _sessions(store)
        rev, everything = await store.ended_sessions(EU, 0)
        assert everything
        latest, none = await store.ended_sessions(EU, 2**63 - 1)
        assert (latest, none) == (rev, [])

    async def test_revoke_consent_twice_conflicts(self, store: Store) -> None:
        """The second revocation conflicts and the first answer stands."""
        await _sessions(store)
        first = await store.revoke_consent(ConsentId("c-1"), LATER)
        with pytest.raises(ConflictError):
            await store.revoke_consent(ConsentId("c-1"), LATER + timedelta(minutes=1))
        assert await store.get_consent(ConsentId("c-1")) == first.record

    async def test_close_ticket_revokes_its_live_sessions(self, store: Store) -> None:
        """Closing a ticket revokes its live sessions and returns them."""
        await _sessions(store)
        result = await store.set_ticket_status(TICKET_DE.id, "closed", LATER)
        assert result.record == dataclasses.replace(TICKET_DE, status="closed")
        assert sorted(s.id for s in result.sessions) == [
            "s-connected",
            "s-de",
            "s-live",
            "s-other-consent",
        ]
        assert {s.end_reason for s in result.sessions} == {"ticket_closed"}
        assert (await _states(store))["s-de2"] == "issued"
        assert (await _states(store))["s-ended"] == "closed"

    async def test_reopen_revokes_nothing(self, store: Store) -> None:
        """Opening a ticket changes no session."""
        await _sessions(store)
        result = await store.set_ticket_status(TICKET_DE.id, "open", LATER)
        assert result.record.status == "open"
        assert result.sessions == []
        assert (await _states(store))["s-de"] == "issued"

    async def test_deactivate_staff_revokes_their_live_sessions(self, store: Store) -> None:
        """Deactivating staff revokes their live sessions only; reactivating revokes none."""
        await _sessions(store)
        result = await store.set_staff_active(STAFF_US.id, False, LATER)
        assert result.record == dataclasses.replace(STAFF_US, active=False)
        assert sorted(s.id for s in result.sessions) == [
            "s-connected",
            "s-live",
            "s-other-consent",
        ]
        assert {s.end_reason for s in result.sessions} == {"staff_deactivated"}
        assert (await _states(store))["s-de"] == "issued"
        again = await store.set_staff_active(STAFF_US.id, True, LATER)
        assert (again.record.active, again.sessions) == (True, [])

    async def test_import_that_closes_or_deactivates_revokes(self, store: Store) -> None:
        """An import closing a ticket or deactivating staff leaves no live session on them."""
        await _sessions(store)
        closed = dataclasses.replace(TICKET_DE2, status="closed")
        inactive = dataclasses.replace(STAFF_DE, active=False)
        counts = await store.import_bundle(ImportBundle(staff=[inactive], tickets=[closed]))
        states = await _states(store)
        assert (states["s-de"], states["s-de2"]) == ("revoked", "revoked")
        assert states["s-live"] == "issued"
        assert sorted(s.id for s in counts.revoked) == ["s-de", "s-de2"]  # returned for the audit
