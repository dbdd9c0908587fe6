"""Properties of reading a region's chains merged: time order, and pages that add up."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.audit.chain import ChainConfig, ChainWriter
from broker.audit.reader import AuditQuery, Cursor, query_region
from broker.state import StateLayout
from broker.typing import Region, WriterId

REGION = Region("eu-west-3")
SECRET = b"m" * 32
WRITERS = (WriterId("main"), WriterId("a"), WriterId("eu-west-3-b"))

# One writer's events: (minute, ticket) each, in chain order.
events = st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["T-0", "T-1"])), max_size=12)
chains = st.dictionaries(st.sampled_from(WRITERS), events, min_size=1, max_size=3)


def write(state: Path, plan: dict[WriterId, list[tuple[int, str]]], *, monotone: bool) -> None:
    """Each writer's chain, its records stamped at the planned minutes (sorted if ``monotone``)."""
    for writer, planned in plan.items():
        folder = StateLayout(state).audit_chain(REGION, writer)
        chain = ChainWriter(
            folder, REGION, SECRET, ChainConfig(max_segment_records=4), writer=writer
        )
        for minute, ticket in sorted(planned) if monotone else planned:
            time = f"2025-03-01T10:{minute:02d}:00.000000Z"
            chain.append(time, "session.denied", {"ticket_id": ticket, "reasons": ["x"]})
        chain.close()


def keys(records: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    return [(r["time"], r["writer"], r["seq"]) for r in records]


def pages(state: Path, query: AuditQuery, limit: int) -> list[list[dict[str, object]]]:
    """Every page of ``query`` at ``limit`` records, following the cursor to the end."""
    found, after = [], Cursor()
    while True:
        page = query_region(state, REGION, AuditQuery(ticket_id=query.ticket_id, limit=limit,
                                                      after=after))  # fmt: skip
        found.append(page.records)
        if page.next_after is None:
            return found
        after = Cursor.parse(page.next_after.encode())  # through its text, as the API does


class TestMergedOrder:
    """With each chain's times in order, the merge is sorted by (time, writer, seq)."""

    @given(plan=chains)
    @settings(max_examples=60, deadline=None)
    def test_merged_records_are_in_time_writer_seq_order(self, plan):
        """Every record of every chain once, ordered by (time, writer, seq)."""
        with tempfile.TemporaryDirectory() as state:
            write(Path(state), plan, monotone=True)
            merged = keys(query_region(Path(state), REGION, AuditQuery()).records)
        assert merged == sorted(merged)
        assert len(merged) == sum(map(len, plan.values()))

    @given(plan=chains)
    @settings(max_examples=40, deadline=None)
    def test_each_chain_keeps_its_own_order_whatever_the_clock(self, plan):
        """Times out of order in a chain (a clock stepped back): each chain reads in seq order."""
        with tempfile.TemporaryDirectory() as state:
            write(Path(state), plan, monotone=False)
            records = query_region(Path(state), REGION, AuditQuery()).records
        for writer in plan:
            seqs = [r["seq"] for r in records if r["writer"] == writer]
            assert seqs == list(range(1, len(plan[writer]) + 1))


class TestPages:
    """Pages of any size, filtered or not, add up to the unpaged answer."""

    @given(plan=chains, limit=st.integers(1, 5), ticket=st.sampled_from([None, "T-1"]),
           monotone=st.booleans())  # fmt: skip
    @settings(max_examples=80, deadline=None)
    def test_pages_concatenate_to_the_whole(self, plan, limit, ticket, monotone):
        """No gap, no repeat, no page over ``limit``; only the last page has no cursor."""
        with tempfile.TemporaryDirectory() as state:
            write(Path(state), plan, monotone=monotone)
            whole = query_region(Path(state), REGION, AuditQuery(ticket_id=ticket)).records
            paged = pages(Path(state), AuditQuery(ticket_id=ticket), limit)
        assert all(len(page) <= limit for page in paged)
        assert [r for page in paged for r in page] == whole

    @given(plan=chains, extra=events, limit=st.integers(1, 4))
    @settings(max_examples=40, deadline=None)
    def test_records_chained_while_paging_come_exactly_once(self, plan, extra, limit):
        """A writer (old or new to the region) appends after the first page: nothing lost."""
        with tempfile.TemporaryDirectory() as folder:
            state = Path(folder)
            write(state, plan, monotone=True)
            first = query_region(state, REGION, AuditQuery(limit=limit))
            late = WriterId("eu-west-3-late")
            write(state, {late: extra}, monotone=True)
            seen = list(first.records)
            after = first.next_after
            while after is not None:
                page = query_region(state, REGION, AuditQuery(limit=limit, after=after))
                seen += page.records
                after = page.next_after
            if first.next_after is None:  # the first page was the last: read the rest
                seen += query_region(state, REGION, AuditQuery(after=_past(first))).records
        found = [(r["writer"], r["seq"]) for r in seen]
        assert len(found) == len(set(found)) == sum(map(len, plan.values())) + len(extra)


def _past(page) -> Cursor:
    """The cursor just past the records of ``page`` (each chain at its last record read)."""
    last: dict[WriterId, int] = {}
    for record in page.records:
        last[WriterId(str(record["writer"]))] = int(record["seq"])
    return Cursor.of(last)
