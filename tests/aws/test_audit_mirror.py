"""The audit mirror in AWS mode: each writer's records in a log stream of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from broker.audit import Auditor
from broker.aws.audit_mirror import AuditMirror, mirror_stream
from broker.aws.clients import ClientFactory
from broker.aws.cloudwatch import CloudWatchSink
from broker.clock import FakeClock
from broker.typing import WriterId
from tests.aws.conftest import EU, unique


class TestAuditMirror:
    """``AuditMirror`` with one ``CloudWatchSink`` per writer, as ``AwsParts.build`` makes them."""

    def test_each_writer_mirrors_to_its_own_stream(self, clients: ClientFactory, tmp_path) -> None:
        """Two writers of one region: two streams, each with its own chain's records as stored."""
        group = unique("/broker/audit")
        clients.client("logs", EU).create_log_group(logGroupName=group)
        clock = FakeClock(datetime(2026, 12, 4, 10, 0, tzinfo=UTC))
        writers = (WriterId("main"), WriterId("eu-central-1-a1b2"))
        for count, writer in enumerate(writers, start=1):
            with Auditor(tmp_path, clock, writer=writer) as auditor:
                sink = CloudWatchSink(clients, {EU: group}, mirror_stream(writer), clock=clock)
                mirror = AuditMirror(auditor, sink, frozenset({EU}))
                for _ in range(count):
                    mirror.emit("session.denied", region=EU, ticket_id="T-1", reasons=["x"])
                sink.flush()
        logs = clients.client("logs", EU)
        for count, writer in enumerate(writers, start=1):
            events = logs.get_log_events(
                logGroupName=group, logStreamName=f"audit/{writer}", startFromHead=True
            )["events"]
            bodies = [json.loads(e["message"]) for e in events]
            assert [(b["writer"], b["seq"]) for b in bodies] == [
                (writer, seq) for seq in range(1, count + 1)
            ]
