"""Events, flushes and metrics between API workers and the main process."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timedelta, timezone

import pytest

from broker.audit.catalog import format_time
from broker.errors import InputError, UnavailableError
from broker.events import MemorySink
from broker.metrics import Metrics
from broker.runtime.workers import channel
from broker.runtime.workers.channel import Channel
from broker.runtime.workers.sink import MainLink
from broker.typing import Region
from tests.runtime.workers.conftest import Pair, PairFactory

EU = Region("eu-central-1")
US = Region("us-east-1")


class FailingSink(MemorySink):
    """Writes every region except one, as an Auditor with a broken disk would."""

    def __init__(self, broken: Region) -> None:
        super().__init__()
        self.broken = broken

    def emit(self, event: str, /, *, region: Region, **fields: object) -> None:
        """Raise for the broken region."""
        if region == self.broken:
            raise UnavailableError("audit_unavailable", "audit trail could not be written")
        super().emit(event, region=region, **fields)


async def _us_failed(make_pair: PairFactory) -> tuple[FailingSink, Pair]:
    """A pair whose main process has failed to write one US event (so US is refused now)."""
    sink = FailingSink(US)
    pair = await make_pair(sink)
    pair.worker.emit("session.requested", region=US, ticket_id="T-1")
    await pair.worker.flush_events()
    return sink, pair


class TestEvents:
    """A worker's events reach the main process's sink."""

    async def test_in_order(self, make_pair: PairFactory) -> None:
        """Events arrive in emit order, with their region and fields."""
        sink = MemorySink()
        pair = await make_pair(sink)
        for n in range(50):
            pair.worker.emit("session.requested", region=EU, ticket_id=f"T-{n}")
        pair.worker.emit("session.denied", region=US, reasons=["consent_required"])
        await pair.worker.flush_events()
        assert [e.get("ticket_id") for e in sink.events[:50]] == [f"T-{n}" for n in range(50)]
        assert sink.events[50] == {
            "event": "session.denied", "region": US, "reasons": ["consent_required"]
        }  # fmt: skip

    async def test_times_as_the_auditor_writes_them(self, make_pair: PairFactory) -> None:
        """An aware time arrives as the chain's text; a naive one is dropped (as by the auditor)."""
        sink = MemorySink()
        pair = await make_pair(sink)
        expires = datetime(2026, 11, 29, 9, 0, tzinfo=timezone(timedelta(hours=1)))
        naive = datetime(2026, 11, 29, 8, 0)  # naive on purpose
        pair.worker.emit("session.issued", region=EU, expires_at=expires, session_id="s-1")
        pair.worker.emit("session.issued", region=EU, expires_at=naive, session_id="s-2")
        await pair.worker.flush_events()
        assert sink.events[0]["expires_at"] == format_time(expires) == "2026-11-29T08:00:00.000000Z"
        assert sink.events[1]["expires_at"] is None

    async def test_flush_answers_after_the_events_before_it(self, make_pair: PairFactory) -> None:
        """The main process flushes only once every earlier event is in the sink."""
        sink = MemorySink()
        pair = await make_pair(sink)
        for _ in range(20):
            pair.worker.emit("auth.failed", region=EU, reason="token_expired")
        await pair.worker.flush_events()
        assert pair.flushes == [20]

    async def test_unknown_event_fails_in_the_worker(self, make_pair: PairFactory) -> None:
        """An unknown type is refused where it is emitted, and nothing is sent."""
        sink = MemorySink()
        pair = await make_pair(sink)
        with pytest.raises(InputError):
            pair.worker.emit("session.stolen", region=EU)
        await pair.worker.flush_events()
        assert sink.events == []

    async def test_unwritable_region_fails_closed(self, make_pair: PairFactory) -> None:
        """Once the main process cannot write a region, the worker's emits for it raise."""
        sink, pair = await _us_failed(make_pair)
        with pytest.raises(UnavailableError):
            pair.worker.emit("session.requested", region=US, ticket_id="T-2")
        pair.worker.emit("session.requested", region=EU, ticket_id="T-3")
        await pair.worker.flush_events()
        assert [e["ticket_id"] for e in sink.events] == ["T-3"]

    async def test_check_refuses_what_emit_would(self, make_pair: PairFactory) -> None:
        """check fails for a region the main process cannot write, an unknown type and an
        unrecordable time, and sends nothing either way."""
        sink, pair = await _us_failed(make_pair)
        with pytest.raises(UnavailableError):
            pair.worker.check("session.requested", region=US, ticket_id="T-2")
        with pytest.raises(InputError):
            pair.worker.check("session.stolen", region=EU)
        late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=23)))
        with pytest.raises(InputError):
            pair.worker.check("consent.granted", region=EU, expires_at=late)
        pair.worker.check("session.requested", region=EU, ticket_id="T-3")
        await pair.worker.flush_events()
        assert sink.events == []

    @pytest.mark.parametrize(
        "message",
        [
            {
                "kind": "events",
                "events": [["session.requested", "eu-central-1", ["not", "a", "map"]]],
            },
            {"kind": "events"},
            {"kind": "flush"},
        ],
    )
    async def test_malformed_message_closes_the_channel(
        self, make_pair: PairFactory, message: dict[str, object]
    ) -> None:
        """A message of the wrong shape: the hub drops that worker's channel, writes nothing."""
        sink = MemorySink()
        pair = await make_pair(sink)
        Channel.send(pair.worker, message)
        await asyncio.wait_for(pair.worker.lost.wait(), 5)
        assert sink.events == []
        with pytest.raises(UnavailableError):
            pair.worker.emit("session.requested", region=EU)

    async def test_lost_main_process_fails_closed(self) -> None:
        """When the main process's end closes, the worker knows and emits raise."""
        ours, theirs = socket.socketpair()
        worker: MainLink = await MainLink.over(theirs)
        listening = asyncio.create_task(worker.listen())
        ours.close()
        await asyncio.wait_for(worker.lost.wait(), 5)
        with pytest.raises(UnavailableError):
            worker.emit("session.requested", region=EU)
        await listening


class TestRequests:
    """Requests and their answers."""

    async def test_unanswered_request_times_out(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A main process that never answers makes the request fail closed, not hang."""
        monkeypatch.setattr(channel, "REQUEST_TIMEOUT", 0.2)
        ours, theirs = socket.socketpair()
        worker: MainLink = await MainLink.over(theirs)
        with pytest.raises(UnavailableError) as caught:
            await worker.flush_events()
        assert caught.value.code == "process_link_timeout"
        ours.close()
        await worker.close()


class TestMetrics:
    """Counters summed across workers."""

    async def test_sum_of_workers(self, make_pair: PairFactory) -> None:
        """A metrics request answers with its own counts plus every other worker's push."""
        pair = await make_pair(MemorySink())
        other = await pair.add_worker()
        theirs = Metrics()
        theirs.granted("eu-central-1")
        theirs.observe_request("POST", "/v1/sessions", 201, 0.003)
        other.send({"kind": "metrics", "snapshot": theirs.snapshot()})
        await other.flush_events()  # the push is handled before this answer
        mine = Metrics()
        mine.granted("eu-central-1")
        mine.denied(["country_not_permitted"])
        total = await pair.worker.metrics(mine)
        assert total.grants["eu-central-1"] == 2
        assert total.denials["country_not_permitted"] == 1
        assert total.latency["/v1/sessions"].n == 1

    async def test_exited_worker_keeps_its_counts(self, make_pair: PairFactory) -> None:
        """Counters never go down when a worker exits: its last push stays in the sum."""
        pair = await make_pair(MemorySink())
        other = await pair.add_worker()
        theirs = Metrics()
        theirs.granted("us-east-1")
        other.send({"kind": "metrics", "snapshot": theirs.snapshot()})
        await other.flush_events()
        await other.close()
        await asyncio.sleep(0.1)
        assert pair.hub.metrics().grants["us-east-1"] == 1
        total = await pair.worker.metrics(Metrics())
        assert total.grants["us-east-1"] == 1
