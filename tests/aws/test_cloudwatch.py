"""The CloudWatch Logs sink: per-region log groups, batching, outages."""

from __future__ import annotations

import json

import pytest

from broker.aws.clients import ClientFactory
from broker.aws.cloudwatch import MAX_BATCH, CloudWatchSink
from broker.errors import InputError, UnavailableError
from broker.typing import Region
from tests.aws.conftest import EU, US, unique
from tests.aws.moto_server import MotoServer


def groups(clients: ClientFactory) -> dict[Region, str]:
    """A fresh log group in each region."""
    made = {}
    for region in (EU, US):
        name = unique(f"/broker/audit/{region}")
        clients.client("logs", region).create_log_group(logGroupName=name)
        made[region] = name
    return made


def messages(clients: ClientFactory, region: Region, group: str) -> list[dict[str, object]]:
    """Every message in the sink's stream of ``group``."""
    answer = clients.client("logs", region).get_log_events(
        logGroupName=group, logStreamName="gw-1", startFromHead=True, limit=10_000
    )
    return [json.loads(e["message"]) for e in answer["events"]]


class TestCloudWatchSink:
    """``CloudWatchSink``."""

    def test_events_land_in_their_regions_group(
        self, clients: ClientFactory, moto_us: MotoServer
    ) -> None:
        """An eu-central-1 event goes to the eu group via the eu endpoint only."""
        made = groups(clients)
        sink = CloudWatchSink(clients, made, "gw-1")
        mark = moto_us.mark()
        sink.emit("session.issued", region=EU, session_id="s-1")
        sink.emit("session.closed", region=EU, session_id="s-1", reason="logout")
        assert sink.flush() == 2
        assert [m["event"] for m in messages(clients, EU, made[EU])] == [
            "session.issued",
            "session.closed",
        ]
        assert moto_us.since(mark) == []
        assert sink.pending(EU) == 0

    def test_large_buffers_are_batched(self, clients: ClientFactory) -> None:
        """More events than one batch are all sent, in order."""
        made = groups(clients)
        sink = CloudWatchSink(clients, made, "gw-1")
        for i in range(MAX_BATCH + 5):
            sink.emit("egress.blocked", region=US, session_id=f"s-{i}")
        assert sink.flush() == MAX_BATCH + 5
        got = messages(clients, US, made[US])
        assert [m["session_id"] for m in got][-2:] == [f"s-{MAX_BATCH + 3}", f"s-{MAX_BATCH + 4}"]

    def test_unknown_region_refused(self, clients: ClientFactory) -> None:
        """A region without a log group is an input error, never another region's group."""
        sink = CloudWatchSink(clients, {EU: "/g"}, "gw-1")
        with pytest.raises(InputError):
            sink.emit("session.issued", region=US, session_id="s")

    def test_outage_keeps_events(self) -> None:
        """When CloudWatch is unreachable the events stay buffered."""
        dead = ClientFactory({EU: "http://127.0.0.1:9"}, max_attempts=1, connect_timeout=1)
        sink = CloudWatchSink(dead, {EU: "/g"}, "gw-1")
        sink.emit("session.issued", region=EU, session_id="s")
        with pytest.raises(UnavailableError):
            sink.flush()
        assert sink.pending(EU) == 1

    def test_bounded_buffer_counts_drops(self, clients: ClientFactory) -> None:
        """Beyond ``max_buffer`` the oldest events are dropped and counted."""
        sink = CloudWatchSink(clients, {EU: "/g"}, "gw-1", max_buffer=2)
        for i in range(3):
            sink.emit("session.issued", region=EU, session_id=f"s-{i}")
        assert (sink.pending(EU), sink.dropped) == (2, 1)
