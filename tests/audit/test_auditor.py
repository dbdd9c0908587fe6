"""Tests for broker.audit.auditor: the emit facade."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from broker.audit import Auditor, AuditQuery, FileSecretSource
from broker.errors import InputError, UnavailableError
from broker.state import MAIN_WRITER, StateLayout
from broker.typing import Region
from tests.audit.conftest import REGION


def all_lines(state):
    return [
        (path, json.loads(line))
        for path in sorted((state / "regions").rglob("*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


class TestEmit:
    """emit validates, allowlists, scrubs, stamps and chains."""

    def test_record_as_stored(self, make_auditor, clock):
        """Time is the clock's UTC time; the region is the parameter; extras are gone."""
        auditor = make_auditor()
        record = auditor.emit(
            "egress.blocked", region=REGION, session_id="s-1", kind="exec",
            command="scp secret.db me@home", name="Jane",
        )  # fmt: skip
        assert record["time"] == "2025-03-01T09:00:00.000000Z"
        assert record["region"] == REGION
        assert {k: record[k] for k in ("event", "session_id", "kind")} == {
            "event": "egress.blocked",
            "session_id": "s-1",
            "kind": "exec",
        }
        assert "command" not in record
        assert "name" not in record

    def test_events_land_only_in_their_regions_folder(self, make_auditor, state):
        """Each region's folder holds only that region's records; no other folders appear."""
        auditor = make_auditor()
        auditor.emit("session.requested", region="eu-central-1", ticket_id="T-1")
        auditor.emit("session.requested", region="us-east-1", ticket_id="T-2")
        auditor.emit("session.requested", region="eu-central-1", ticket_id="T-3")
        auditor.flush()
        lines = all_lines(state)
        assert len(lines) == 3
        for path, record in lines:
            assert path.parent == StateLayout(state).audit_chain(record["region"], "main")
        assert sorted(p.name for p in (state / "regions").iterdir()) == [
            "eu-central-1",
            "us-east-1",
        ]

    def test_personal_data_is_pseudonymised_with_the_regions_key(self, make_auditor, state):
        """The same number in two regions gets unlinkable pseudonyms; none is raw."""
        auditor = make_auditor()
        de = auditor.emit("session.requested", region="eu-central-1", ticket_id="+49 30 901820")
        us = auditor.emit("session.requested", region="us-east-1", ticket_id="+49 30 901820")
        auditor.flush()
        assert de["ticket_id"].startswith("tel:")
        assert de["ticket_id"] != us["ticket_id"]
        assert b"901820" not in b"".join(p.read_bytes() for p in state.rglob("*.jsonl"))

    def test_unknown_event_type_writes_nothing(self, make_auditor, state):
        """An unknown type is refused before anything is created."""
        auditor = make_auditor()
        with pytest.raises(InputError):
            auditor.emit("session.teleported", region=REGION)
        assert not (state / "regions").exists()

    def test_bad_region_is_refused(self, make_auditor):
        """A region that is not a region code cannot become a folder."""
        with pytest.raises(InputError) as caught:
            make_auditor().emit("session.requested", region="../../etc")
        assert caught.value.field == "region"

    def test_key_file_is_created_per_region(self, make_auditor, state):
        """The pseudonym secret lives beside the region's audit folder."""
        make_auditor().emit("session.requested", region=REGION)
        assert (state / "regions" / REGION / "audit-key").is_file()

    def test_verify_and_query_see_unflushed_events(self, make_auditor):
        """verify and query flush the region first."""
        auditor = make_auditor(batch_size=100)
        auditor.emit("consent.granted", region=REGION, consent_id="c-1", ticket_id="T-1")
        assert auditor.verify(REGION).records == 1
        page = auditor.query(REGION, AuditQuery(event="consent.granted"))
        assert [r["consent_id"] for r in page.records] == ["c-1"]

    def test_context_manager_flushes(self, state, clock):
        """Leaving the with-block makes events durable."""
        with Auditor(state, clock) as auditor:
            auditor.emit("config.changed", region=REGION, key="session.max_minutes")
        source = FileSecretSource(state, create=False)
        assert source.secret(Region(REGION))
        assert len(all_lines(state)) == 1

    def test_flush_goes_on_past_a_failed_region(self, make_auditor, state):
        """One region's unwritable trail fails the flush; the others are flushed all the same."""
        auditor = make_auditor(batch_size=100, max_segment_records=1)
        auditor.emit("session.requested", region=REGION)
        auditor.flush()
        blocker = StateLayout(state).audit_chain(Region(REGION), "main") / "00000002.jsonl"
        blocker.mkdir()  # the region's next segment cannot be written
        auditor.emit("session.requested", region=REGION)
        auditor.emit("session.requested", region="us-east-1")
        with pytest.raises(UnavailableError) as caught:
            auditor.flush()
        assert caught.value.ids["region"] == REGION
        blocker.rmdir()
        assert sorted(record["region"] for _, record in all_lines(state)) == [REGION, "us-east-1"]

    async def test_periodic_flush(self, make_auditor, state):
        """flush_every makes buffered events durable without a full batch."""
        auditor = make_auditor(batch_size=1000)
        auditor.emit("session.requested", region=REGION)
        assert all_lines(state) == []
        task = asyncio.create_task(auditor.flush_every(1.0))
        for _ in range(50):
            await asyncio.sleep(0.01)
            if all_lines(state):
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert len(all_lines(state)) == 1


class TestClockJumps:
    """The chain is ordered by ``seq``; times that step back break nothing."""

    async def test_a_backward_step_keeps_the_chain_valid_and_readable(
        self, make_auditor, clock, anchors
    ):
        """Records stamped earlier than their predecessors verify, anchor and read back."""
        auditor = make_auditor(anchors)
        await auditor.open([Region(REGION)])
        auditor.emit("session.denied", region=REGION, ticket_id="T-1", reasons=["a"])
        clock.jump(-3600)
        auditor.emit("session.denied", region=REGION, ticket_id="T-2", reasons=["b"])
        clock.jump(7200)
        auditor.emit("session.denied", region=REGION, ticket_id="T-3", reasons=["c"])
        await auditor.anchor()
        records = auditor.query(REGION, AuditQuery()).records
        assert [r["ticket_id"] for r in records] == ["T-1", "T-2", "T-3"]
        assert records[1]["time"] < records[0]["time"] < records[2]["time"]
        result = auditor.verify(REGION)
        assert result.ok
        assert result.records == 3
        assert (await anchors.latest(Region(REGION), MAIN_WRITER)).seq == 3


class TestCheck:
    """check raises as emit would, and writes nothing."""

    def test_writes_nothing(self, make_auditor, state):
        """A passing check leaves the trail as it was."""
        auditor = make_auditor()
        auditor.check("session.requested", region=REGION, ticket_id="T-1")
        auditor.flush()
        assert all_lines(state) == []

    def test_unrecordable_time_is_refused(self, make_auditor, state):
        """A time that overflows once in UTC is an InputError, before anything is chained."""
        auditor = make_auditor()
        late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=23)))
        with pytest.raises(InputError):
            auditor.check("consent.granted", region=REGION, consent_id="c-1", expires_at=late)
        with pytest.raises(OverflowError):  # what the write path met after its write, before
            auditor.emit("consent.granted", region=REGION, consent_id="c-1", expires_at=late)

    def test_failed_trail_is_refused(self, make_auditor, state):
        """Once a region's trail could not be written, check refuses it; other regions pass."""
        auditor = make_auditor(batch_size=100, max_segment_records=1)
        auditor.emit("session.requested", region=REGION)
        auditor.flush()
        (StateLayout(state).audit_chain(Region(REGION), "main") / "00000002.jsonl").mkdir()
        auditor.emit("session.requested", region=REGION)
        with pytest.raises(UnavailableError):
            auditor.flush()
        with pytest.raises(UnavailableError):
            auditor.check("session.requested", region=REGION)
        auditor.check("session.requested", region="us-east-1")

    def test_unknown_event_type(self, make_auditor):
        """An unknown type fails the check as it fails emit."""
        with pytest.raises(InputError):
            make_auditor().check("session.stolen", region=REGION)
