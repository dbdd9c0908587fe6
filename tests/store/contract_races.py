"""Contract: concurrent transitions leave exactly one consistent answer."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from broker.errors import ConflictError, NotFoundError
from broker.store.base import Store
from broker.typing import ConsentId, SessionId
from tests.store.contract_base import StoreHarness
from tests.store.world import EU, STAFF_US, T0, TICKET_DE, consent, session, us_session

ROUNDS = 8

CUTS: list[Any] = [
    pytest.param(lambda s, c: s.revoke_consent(c, T0), id="revoke-consent"),
    pytest.param(lambda s, c: s.set_ticket_status(TICKET_DE.id, "closed", T0), id="close-ticket"),
    pytest.param(lambda s, c: s.set_staff_active(STAFF_US.id, False, T0), id="deactivate-staff"),
]


async def _outcome(store: Store, session_id: SessionId) -> str | None:
    try:
        return (await store.get_session(session_id)).state
    except NotFoundError:
        return None


def _assert_refused_or_revoked(created: object, state: str | None) -> None:
    """Either the create conflicted and nothing is stored, or the session is revoked."""
    if isinstance(created, BaseException):
        assert isinstance(created, ConflictError), created
        assert state is None
    else:
        assert state == "revoked"


class RaceContract(StoreHarness):
    """Races between callers of the same store."""

    async def test_concurrent_ends_one_winner(self, store: Store) -> None:
        """Of many concurrent ends, exactly one wins and its answer is stored."""
        await store.create_session(session())
        sid = SessionId("sess-1")
        results = await asyncio.gather(
            *(store.end_session(sid, "revoked", f"r{i}", T0) for i in range(10)),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(r, ConflictError) for r in results if r is not winners[0])
        assert await store.get_session(sid) == winners[0]

    async def test_concurrent_consent_revokes_one_winner(self, store: Store) -> None:
        """Two concurrent revocations of one consent: one wins, one conflicts."""
        await store.add_consent(consent())
        await store.create_session(us_session("sess-us", "consent-1"))
        results = await asyncio.gather(
            store.revoke_consent(ConsentId("consent-1"), T0),
            store.revoke_consent(ConsentId("consent-1"), T0),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["ConflictError", "Revoked"]
        revoked = next(r for r in results if not isinstance(r, BaseException))
        assert [s.id for s in revoked.sessions] == ["sess-us"]

    @pytest.mark.parametrize("cut", CUTS)
    @pytest.mark.parametrize("cut_first", [False, True])
    async def test_cut_during_issue_leaves_no_live_session(
        self, store: Store, cut: Any, cut_first: bool
    ) -> None:
        """A consent revoked (ticket closed, staff deactivated) while a session is
        issued leaves either no session or a revoked one, never a live one."""
        await store.add_consent(consent())
        create = store.create_session(us_session("sess-us", "consent-1"))
        cutting = cut(store, ConsentId("consent-1"))
        order = [cutting, create] if cut_first else [create, cutting]
        results = await asyncio.gather(*order, return_exceptions=True)
        created = results[1] if cut_first else results[0]
        _assert_refused_or_revoked(created, await _outcome(store, SessionId("sess-us")))

    async def test_many_issues_racing_a_revocation(self, store: Store) -> None:
        """Sessions issued around a revocation are each refused or revoked."""
        await store.add_consent(consent())
        creates = [store.create_session(us_session(f"s-{i}", "consent-1")) for i in range(ROUNDS)]
        half = ROUNDS // 2
        calls = [*creates[:half], store.revoke_consent(ConsentId("consent-1"), T0), *creates[half:]]
        results = await asyncio.gather(*calls, return_exceptions=True)
        del results[half]
        for i, created in enumerate(results):
            _assert_refused_or_revoked(created, await _outcome(store, SessionId(f"s-{i}")))
        assert (await store.get_consent(ConsentId("consent-1"))).revoked_at == T0


class ThreadContract(StoreHarness):
    """One store serves the event loops of several threads."""

    async def test_reads_from_another_threads_loop(self, store: Store) -> None:
        """A second thread's loop reads changes between reads on this loop."""
        await store.create_session(session())
        await store.end_session(SessionId("sess-1"), "revoked", "ops", T0)
        here = await store.ended_sessions(EU, 0)
        there: list[object] = []

        def other_thread() -> None:
            there.append(asyncio.run(store.ended_sessions(EU, 0)))

        thread = threading.Thread(target=other_thread)
        thread.start()
        await asyncio.to_thread(thread.join)
        assert there == [here]
        assert [s.id for s in here[1]] == ["sess-1"]
        assert await store.ended_sessions(EU, 0) == here
