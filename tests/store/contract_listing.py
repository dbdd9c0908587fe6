"""Contract: listing sessions newest first with opaque-cursor pages."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.errors import InputError
from broker.models import Session, Ticket
from broker.store.base import ImportBundle, Page, SessionQuery, Store
from broker.typing import SessionId, TicketId
from tests.store.contract_base import StoreHarness
from tests.store.world import (
    ORG_DE,
    ORG_US,
    STAFF_DE,
    STAFF_IN,
    T0,
    TICKET_DE,
    TICKET_DE2,
    TICKET_US,
    US,
    session,
)

_TICKETS = itertools.count()


async def _all_pages(store: Store, query: SessionQuery) -> list[Session]:
    """Follow ``next_cursor`` to the end, checking every page's size."""
    seen: list[Session] = []
    page: Page[Session] = await store.list_sessions(query)
    while True:
        assert len(page.items) <= query.limit
        seen.extend(page.items)
        if page.next_cursor is None:
            return seen
        assert len(page.items) == query.limit
        query = dataclasses.replace(query, cursor=page.next_cursor)
        page = await store.list_sessions(query)


def _query(**fields: Any) -> SessionQuery:
    return SessionQuery(**fields)


class ListingContract(StoreHarness):
    """``list_sessions``: filters, order and pagination."""

    async def test_filters_and_newest_first(self, store: Store) -> None:
        """Each filter narrows the list; results come newest first."""
        await store.create_session(session("a", created_at=T0))
        await store.create_session(session("b", created_at=T0 + timedelta(seconds=1)))
        await store.create_session(
            session("c", ticket_id=TICKET_DE2.id, staff_id=STAFF_IN.id, basis="scc")
        )
        await store.end_session(SessionId("a"), "closed", "done", T0 + timedelta(seconds=5))
        by_ticket = await store.list_sessions(_query(ticket_id=TICKET_DE.id))
        assert [s.id for s in by_ticket.items] == ["b", "a"]
        by_staff = await store.list_sessions(_query(staff_id=STAFF_IN.id))
        assert [s.id for s in by_staff.items] == ["c"]
        issued = await store.list_sessions(_query(state="issued", staff_id=STAFF_DE.id))
        assert [s.id for s in issued.items] == ["b"]
        everything = await store.list_sessions(SessionQuery())
        assert [s.id for s in everything.items] == ["b", "c", "a"]
        assert everything.next_cursor is None

    async def test_org_filter(self, store: Store) -> None:
        """``org_id`` lists every session on the org's tickets and none of another org's."""
        await store.create_session(session("a", created_at=T0))
        await store.create_session(session("c", ticket_id=TICKET_DE2.id, basis="scc"))
        await store.create_session(
            session("u", org_id=ORG_US.id, ticket_id=TICKET_US.id, region=US, basis="not-eea")
        )
        mine = await store.list_sessions(_query(org_id=ORG_DE.id))
        assert sorted(s.id for s in mine.items) == ["a", "c"]
        theirs = await store.list_sessions(_query(org_id=ORG_US.id, state="issued"))
        assert [s.id for s in theirs.items] == ["u"]

    @settings(
        max_examples=15,
        deadline=None,
        # The contract runs once per store implementation, each its own class.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        offsets=st.lists(st.integers(min_value=0, max_value=5), min_size=0, max_size=12),
        limit=st.integers(min_value=1, max_value=5),
    )
    async def test_pages_cover_every_match_once(
        self, store: Store, offsets: list[int], limit: int
    ) -> None:
        """Walking the pages yields each match exactly once, newest first, ties by id."""
        ticket = TicketId(f"ticket-page-{next(_TICKETS)}")
        await store.import_bundle(
            ImportBundle(tickets=[Ticket(ticket, TICKET_DE.org_id, 2, "product")])
        )
        made = []
        for index, offset in enumerate(offsets):
            created = T0 + timedelta(seconds=offset)
            made.append(
                await store.create_session(
                    session(f"{ticket}-{index:02}", ticket_id=ticket, created_at=created)
                )
            )
        walked = await _all_pages(store, _query(ticket_id=ticket, limit=limit))
        expected = sorted(made, key=lambda s: (s.created_at, s.id), reverse=True)
        assert walked == expected

    @pytest.mark.parametrize(
        "cursor",
        [
            "",
            "not-a-cursor",
            "MTo5OTk",
            "!!!!",
            "\u00e9t\u00e9",
            # well-formed but out of the store's domain: a time beyond 64 bits, a
            # superscript digit, an id that is not one, a time below -2**63
            "MTo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OnMtMQ",
            "MTrCsjpzLTE",
            "MTo1Oi4uL3MtMQ",
            "MTotOTk5OTk5OTk5OTk5OTk5OTk5OTk6cw",
        ],
    )
    async def test_forged_cursor_is_input_error(self, store: Store, cursor: str) -> None:
        """A cursor the store did not issue names the ``cursor`` field."""
        with pytest.raises(InputError) as caught:
            await store.list_sessions(_query(cursor=cursor))
        assert caught.value.field == "cursor"

    @pytest.mark.parametrize("limit", [0, -1, 10_000])
    async def test_limit_bounds(self, store: Store, limit: int) -> None:
        """A page size outside the store's bounds names the ``limit`` field."""
        with pytest.raises(InputError) as caught:
            await store.list_sessions(_query(limit=limit))
        assert caught.value.field == "limit"
