"""Tests for broker.audit.reader on one chain: filters, cursor pages, the cursor's text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from broker.audit.reader import AuditQuery, Cursor, query_directory, query_region
from broker.errors import InputError
from broker.state import StateLayout
from tests.audit.conftest import REGION

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def trail(make_auditor, clock, state):
    """Twelve events a minute apart across two sessions and tickets, plus a denial."""
    auditor = make_auditor(batch_size=5, max_segment_records=4)
    for i in range(12):
        auditor.emit(
            "session.issued" if i % 3 else "session.connected", region=REGION,
            session_id=f"s-{i % 2}", ticket_id=f"T-{i % 2}", org_id="org-1",
        )  # fmt: skip
        clock.advance(60)
    auditor.emit("session.denied", region=REGION, ticket_id="T-9", reasons=["x"])
    auditor.close()
    return state


class TestQuery:
    """Filters combine with AND and keep chain order."""

    def test_everything_in_order_across_segments(self, trail):
        """No filter returns all records, seq ascending."""
        records = query_region(trail, REGION, AuditQuery()).records
        assert [r["seq"] for r in records] == list(range(1, 14))

    @pytest.mark.parametrize(
        ("query", "seqs"),
        [
            (AuditQuery(session_id="s-1"), [2, 4, 6, 8, 10, 12]),
            (AuditQuery(ticket_id="T-0", event="session.connected"), [1, 7]),
            (AuditQuery(event="session.denied"), [13]),
            (AuditQuery(since=START + timedelta(minutes=10)), [11, 12, 13]),
            (AuditQuery(until=START + timedelta(minutes=2)), [1, 2]),
            (AuditQuery(session_id="s-0", since=START + timedelta(minutes=4),
                        until=START + timedelta(minutes=8)), [5, 7]),
            (AuditQuery(org_id="nobody"), []),
        ],
    )  # fmt: skip
    def test_filters(self, trail, query, seqs):
        """Session, ticket, event and time filters select exactly their records."""
        assert [r["seq"] for r in query_region(trail, REGION, query).records] == seqs

    def test_staff_matches_subject_or_actor(self, make_auditor, state):
        """``staff_id`` finds records about the staff member and records they caused, and
        no record where the id is only a prefix of another."""
        auditor = make_auditor()
        auditor.emit("session.issued", region=REGION, staff_id="eng-1", actor="eng-1")
        auditor.emit("consent.granted", region=REGION, staff_id="eng-2", actor="adm-1")
        auditor.emit("consent.revoked", region=REGION, staff_id="eng-1", actor="adm-1")
        auditor.emit("session.revoked", region=REGION, session_id="s", actor="eng-1")
        auditor.emit("session.issued", region=REGION, staff_id="eng-10", actor="eng-10")
        auditor.close()
        found = query_region(state, REGION, AuditQuery(staff_id="eng-1")).records
        assert [r["seq"] for r in found] == [1, 3, 4]
        admin = query_region(state, REGION, AuditQuery(staff_id="adm-1")).records
        assert [r["seq"] for r in admin] == [2, 3]

    def test_pages_follow_the_cursor(self, trail):
        """limit + after walk the trail without gaps or repeats."""
        seen, after = [], Cursor()
        while True:
            page = query_region(trail, REGION, AuditQuery(session_id="s-0", limit=2, after=after))
            seen += [r["seq"] for r in page.records]
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == [1, 3, 5, 7, 9, 11]

    def test_torn_last_line_is_skipped(self, trail):
        """A half-written record is not returned."""
        last = sorted(StateLayout(trail).audit_chain(REGION, "main").glob("*.jsonl"))[-1]
        with last.open("ab") as stream:
            stream.write(b'{"seq":14,"time":"2025-')
        assert (
            len(
                query_directory(
                    StateLayout(trail).audit_chain(REGION, "main"), AuditQuery()
                ).records
            )
            == 13
        )

    def test_unknown_region_has_no_records(self, state):
        """Reading a region that has no trail returns an empty last page."""
        page = query_region(state, "eu-west-1", AuditQuery())
        assert (page.records, page.next_after) == ([], None)


class TestQueryValidation:
    """Bad filters are refused, naming the field."""

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"event": "nope"}, "event"),
            ({"since": datetime(2025, 1, 1)}, "since"),
            ({"limit": 0}, "limit"),
        ],
    )
    def test_invalid(self, kwargs, field):
        """Unknown events, naive times and bad paging raise InputError."""
        with pytest.raises(InputError) as caught:
            AuditQuery(**kwargs)
        assert caught.value.field == field


class TestCursor:
    """The cursor's text: what ``encode`` writes ``parse`` reads; nothing else is accepted."""

    def test_round_trip_sorted_by_writer_without_zero_positions(self):
        """Positions are kept by writer; a chain at 0 is left out."""
        cursor = Cursor.of({"main": 12, "eu-central-1-a1b2": 7, "api": 0})
        assert cursor.encode() == "eu-central-1-a1b2:7,main:12"
        assert Cursor.parse(cursor.encode()) == cursor
        assert (cursor.after("main"), cursor.after("api")) == (12, 0)

    def test_a_bare_number_is_mains(self):
        """A cursor from before writers (a seq) goes on in ``main``'s chain."""
        assert Cursor.parse("41") == Cursor.of({"main": 41})

    @pytest.mark.parametrize(
        "text",
        ["", "main", "main:", "main:-1", "Main:1", "main:1,main:2", "-a:1", "main:1,",
         "a:1;b:2", "main:\u0661", f"main:{2**63}", "x" * 4097],
    )  # fmt: skip
    def test_anything_else_is_refused_naming_the_cursor(self, text):
        """Malformed, duplicated, out-of-range or overlong text: InputError on ``cursor``."""
        with pytest.raises(InputError) as caught:
            Cursor.parse(text)
        assert caught.value.field == "cursor"
