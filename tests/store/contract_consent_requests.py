"""Contract: consent requests, decided once, an approval's consent in the same transaction."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from broker.errors import BrokerError, ConflictError, InputError, NotFoundError, UnavailableError
from broker.models import ConsentRequest
from broker.store.base import ConsentRequestDecision, ConsentRequestQuery, Store
from broker.typing import ConsentRequestId, CountryCode, OrgId, Subject, TicketId
from tests.store.contract_base import StoreHarness
from tests.store.world import (
    EU,
    ORG_DE,
    ORG_US,
    STAFF_DE,
    STAFF_US,
    T0,
    TICKET_DE,
    TICKET_DE2,
    TICKET_US,
    US,
    consent,
)

DAY = timedelta(hours=24)
ADMIN = Subject("admin-de")


def request(request_id: str = "creq-1", **changes: Any) -> ConsentRequest:
    """A pending two-hour request of staff-us on ticket-de, made at T0 (expires T0 + 24 h)."""
    base = ConsentRequest(
        id=ConsentRequestId(request_id),
        org_id=ORG_DE.id,
        region=EU,
        ticket_id=TICKET_DE.id,
        staff_id=STAFF_US.id,
        staff_country=CountryCode("US"),
        duration_seconds=7200,
        reason="please, email:0123456789abcdef",
        state="pending",
        created_at=T0,
        expires_at=T0 + DAY,
    )
    return dataclasses.replace(base, **changes)


def stale(request_id: str = "creq-old", **changes: Any) -> ConsentRequest:
    """A request made 25 h before T0: unanswered, it reads expired at T0 (the store's clock)."""
    return request(
        request_id,
        created_at=T0 - DAY - timedelta(hours=1),
        expires_at=T0 - timedelta(hours=1),
        **changes,
    )


def approval(
    consent_id: str = "consent-r", at_offset: int = 60, seconds: int = 3600
) -> ConsentRequestDecision:
    """An approval at T0 + ``at_offset`` s making ``consent_id`` for ``seconds``."""
    at = T0 + timedelta(seconds=at_offset)
    made = consent(consent_id, created_at=at, expires_at=at + timedelta(seconds=seconds))
    return ConsentRequestDecision("approved", ADMIN, at, seconds, consent=made)


def denial(reason: str = "not now") -> ConsentRequestDecision:
    """A denial at T0 + 60 s."""
    return ConsentRequestDecision("denied", ADMIN, T0 + timedelta(seconds=60), deny_reason=reason)


BAD_NEW: list[Any] = [
    pytest.param({"state": "approved"}, "state", id="not-pending"),
    pytest.param({"duration_seconds": 0}, "duration_seconds", id="no-duration"),
    pytest.param({"reason": ""}, "reason", id="empty-reason"),
    pytest.param({"reason": "x" * 2001}, "reason", id="overlong-reason"),
    pytest.param({"expires_at": T0}, "expires_at", id="empty-wait"),
    pytest.param({"decided_by": ADMIN}, "decided_at", id="already-decided"),
]

NOT_ADDED: list[Any] = [
    pytest.param(
        {"ticket_id": TicketId("ticket-x")}, NotFoundError, "ticket_not_found", id="ticket"
    ),
    pytest.param({"ticket_id": TICKET_US.id}, InputError, "invalid_field", id="other-org-ticket"),
    pytest.param({"staff_id": "staff-x"}, NotFoundError, "staff_not_found", id="staff"),
    pytest.param({"region": US}, InputError, "invalid_field", id="other-region"),
]

BAD_DECISIONS: list[Any] = [
    pytest.param(
        ConsentRequestDecision("approved", ADMIN, T0), "consent", id="approval-without-consent"
    ),
    pytest.param(
        dataclasses.replace(approval(), granted_seconds=7201),
        "granted_seconds",
        id="longer-than-asked",
    ),
    pytest.param(
        dataclasses.replace(approval(), consent=consent("c", ticket_id=TICKET_DE2.id)),
        "consent",
        id="consent-for-other-ticket",
    ),
    pytest.param(
        ConsentRequestDecision("denied", ADMIN, T0), "deny_reason", id="denial-without-reason"
    ),
    pytest.param(
        dataclasses.replace(denial(), consent=consent("c")), "consent", id="denial-with-consent"
    ),
    pytest.param(
        ConsentRequestDecision("cancelled", ADMIN, T0, deny_reason="x"),
        "deny_reason",
        id="cancel-with-reason",
    ),
]


class ConsentRequestContract(StoreHarness):
    """Adding, reading, listing, deciding and expiring consent requests."""

    async def test_added_request_reads_back(self, store: Store) -> None:
        """What was added is what ``get_consent_request`` returns."""
        await store.add_consent_request(request())
        assert await store.get_consent_request(ConsentRequestId("creq-1")) == request()

    async def test_unknown_request_is_not_found(self, store: Store) -> None:
        """An unknown id is ``consent_request_not_found``."""
        with pytest.raises(NotFoundError) as caught:
            await store.get_consent_request(ConsentRequestId("nope"))
        assert caught.value.code == "consent_request_not_found"

    @pytest.mark.parametrize(("changes", "field"), BAD_NEW)
    async def test_malformed_request_is_refused(
        self, store: Store, changes: dict[str, Any], field: str
    ) -> None:
        """A malformed new request names its field; nothing is stored."""
        with pytest.raises(InputError) as caught:
            await store.add_consent_request(request(**changes))
        assert caught.value.field == field
        assert (await store.list_consent_requests(ConsentRequestQuery())).items == []

    @pytest.mark.parametrize(("changes", "error", "code"), NOT_ADDED)
    async def test_request_needs_its_world(
        self, store: Store, changes: dict[str, Any], error: type[BrokerError], code: str
    ) -> None:
        """Ticket of the org, the org's region and the staff member must hold; else nothing."""
        with pytest.raises(error) as caught:
            await store.add_consent_request(request(**changes))
        assert caught.value.code == code
        assert (await store.list_consent_requests(ConsentRequestQuery())).items == []

    async def test_taken_id_is_a_conflict(self, store: Store) -> None:
        """A second request with the same id is refused and the first stands."""
        await store.add_consent_request(request())
        with pytest.raises(ConflictError) as caught:
            await store.add_consent_request(request(reason="other"))
        assert caught.value.code == "consent_request_exists"
        assert (await store.get_consent_request(request().id)).reason == request().reason

    async def test_approval_stores_its_consent(self, store: Store) -> None:
        """Approving records the decision and the consent together; the consent is valid."""
        await store.add_consent_request(request())
        decided = await store.decide_consent_request(request().id, approval())
        assert (decided.state, decided.consent_id, decided.granted_seconds) == (
            "approved",
            "consent-r",
            3600,
        )
        assert (decided.decided_by, decided.decided_at) == (ADMIN, T0 + timedelta(seconds=60))
        assert await store.get_consent_request(request().id) == decided
        found = await store.valid_consent(TICKET_DE.id, STAFF_US.id, T0 + timedelta(minutes=5))
        assert found is not None
        assert found.id == "consent-r"

    async def test_denial_keeps_its_reason(self, store: Store) -> None:
        """A denial stores its reason and makes no consent."""
        await store.add_consent_request(request())
        decided = await store.decide_consent_request(request().id, denial("ask ops"))
        assert (decided.state, decided.deny_reason, decided.consent_id) == (
            "denied",
            "ask ops",
            None,
        )
        assert await store.list_consents(TICKET_DE.id) == []

    async def test_decided_once(self, store: Store) -> None:
        """A second decision is ``consent_request_decided``; the first and its consent stand."""
        await store.add_consent_request(request())
        await store.decide_consent_request(request().id, denial())
        with pytest.raises(ConflictError) as caught:
            await store.decide_consent_request(request().id, approval())
        assert caught.value.code == "consent_request_decided"
        assert (await store.get_consent_request(request().id)).state == "denied"
        assert await store.list_consents(TICKET_DE.id) == []

    async def test_racing_approvals_make_one_consent(self, store: Store) -> None:
        """Of two concurrent approvals exactly one wins; one consent exists."""
        await store.add_consent_request(request())
        results = await asyncio.gather(
            store.decide_consent_request(request().id, approval("consent-a")),
            store.decide_consent_request(request().id, approval("consent-b")),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, ConsentRequest)]
        lost = [r for r in results if isinstance(r, ConflictError)]
        assert len(won) == 1
        assert len(lost) == 1
        assert [c.id for c in await store.list_consents(TICKET_DE.id)] == [won[0].consent_id]

    async def test_failed_consent_leaves_request_pending(self, store: Store) -> None:
        """An approval whose consent cannot be stored (its id is taken) writes nothing."""
        await store.add_consent(consent("consent-r"))
        await store.add_consent_request(request())
        with pytest.raises(ConflictError) as caught:
            await store.decide_consent_request(request().id, approval("consent-r"))
        assert caught.value.code == "consent_exists"
        assert (await store.get_consent_request(request().id)).state == "pending"

    @pytest.mark.parametrize(("decision", "field"), BAD_DECISIONS)
    async def test_malformed_decision_is_refused(
        self, store: Store, decision: ConsentRequestDecision, field: str
    ) -> None:
        """A decision that does not fit its kind or request names its field; nothing changes."""
        await store.add_consent_request(request())
        with pytest.raises(InputError) as caught:
            await store.decide_consent_request(request().id, decision)
        assert caught.value.field == field
        assert (await store.get_consent_request(request().id)).state == "pending"

    async def test_unanswered_request_reads_expired(self, store: Store) -> None:
        """Past its expiry a pending request reads ``expired`` and cannot be approved."""
        await store.add_consent_request(stale())
        assert (await store.get_consent_request(stale().id)).state == "expired"
        with pytest.raises(ConflictError) as caught:
            await store.decide_consent_request(stale().id, approval())
        assert caught.value.code == "consent_request_expired"
        assert await store.list_consents(TICKET_DE.id) == []

    async def test_sweep_moves_each_once(self, store: Store) -> None:
        """``expire_consent_requests`` moves due requests once and leaves others alone."""
        await store.add_consent_request(stale())
        await store.add_consent_request(request())
        moved = await store.expire_consent_requests(T0)
        assert [(r.id, r.state) for r in moved] == [("creq-old", "expired")]
        assert await store.expire_consent_requests(T0) == []
        assert (await store.get_consent_request(request().id)).state == "pending"

    async def test_listing_filters_on_states_as_read(self, store: Store) -> None:
        """The state filter sees a stale pending request as expired, not pending."""
        await store.add_consent_request(stale())
        await store.add_consent_request(request())
        pending = await store.list_consent_requests(ConsentRequestQuery(state="pending"))
        expired = await store.list_consent_requests(ConsentRequestQuery(state="expired"))
        assert [r.id for r in pending.items] == ["creq-1"]
        assert [(r.id, r.state) for r in expired.items] == [("creq-old", "expired")]

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            pytest.param(ConsentRequestQuery(org_id=ORG_DE.id), ["r-3", "r-2", "r-1"], id="org"),
            pytest.param(ConsentRequestQuery(org_id=OrgId("org-x")), [], id="no-org"),
            pytest.param(ConsentRequestQuery(ticket_id=TICKET_DE2.id), ["r-3"], id="ticket"),
            pytest.param(ConsentRequestQuery(staff_id=STAFF_DE.id), ["r-4", "r-2"], id="staff"),
            pytest.param(ConsentRequestQuery(), ["r-4", "r-3", "r-2", "r-1"], id="all"),
        ],
    )
    async def test_listing_filters(
        self, store: Store, query: ConsentRequestQuery, expected: list[str]
    ) -> None:
        """Org, ticket and staff filters, newest first (r-4 is another org's)."""
        await self._three(store)
        assert [r.id for r in (await store.list_consent_requests(query)).items] == expected

    async def test_listing_pages(self, store: Store) -> None:
        """Pages of one follow the cursor to the end, newest first, each request once."""
        await self._three(store)
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            page = await store.list_consent_requests(ConsentRequestQuery(limit=1, cursor=cursor))
            seen += [r.id for r in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == ["r-4", "r-3", "r-2", "r-1"]

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            pytest.param(ConsentRequestQuery(limit=0), "limit", id="limit"),
            pytest.param(ConsentRequestQuery(state="live"), "state", id="state"),  # type: ignore[arg-type]
            pytest.param(ConsentRequestQuery(cursor="!!"), "cursor", id="cursor"),
        ],
    )
    async def test_listing_refuses_bad_queries(
        self, store: Store, query: ConsentRequestQuery, field: str
    ) -> None:
        """A bad limit, state or cursor names its field."""
        with pytest.raises(InputError) as caught:
            await store.list_consent_requests(query)
        assert caught.value.field == field

    async def test_unreachable_store_is_unavailable(self, unreachable: Store) -> None:
        """No backing system: ``UnavailableError``, never a guess."""
        with pytest.raises(UnavailableError):
            await unreachable.get_consent_request(ConsentRequestId("creq-1"))

    @staticmethod
    async def _three(store: Store) -> None:
        minute = timedelta(minutes=1)
        await store.add_consent_request(request("r-1"))
        await store.add_consent_request(
            request("r-2", created_at=T0 + minute, staff_id=STAFF_DE.id, staff_country="DE")
        )
        await store.add_consent_request(
            request("r-3", created_at=T0 + 2 * minute, ticket_id=TICKET_DE2.id)
        )
        await store.add_consent_request(
            request(
                "r-4",
                created_at=T0 + 3 * minute,
                org_id=ORG_US.id,
                region=US,
                ticket_id=TICKET_US.id,
                staff_id=STAFF_DE.id,
            )
        )
