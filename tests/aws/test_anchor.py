"""KMS-signed anchors in CloudWatch Logs (moto): the anchor contract, and forgeries refused."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.audit.anchor import AuditAnchor
from broker.aws.anchor import STREAM, KmsLogsAnchor, anchor_payload, stream_of
from broker.aws.clients import ClientFactory
from broker.clock import FakeClock
from broker.errors import UnavailableError
from broker.typing import Region
from tests.audit.anchor_contract import EU, MAIN, REPLICA, US, AnchorContract, anchor
from tests.aws.conftest import unique


def _resources(clients: ClientFactory, region: Region) -> tuple[str, str]:
    """A fresh ECC signing key and log group in ``region``."""
    key = clients.client("kms", region).create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")[
        "KeyMetadata"
    ]["Arn"]
    group = unique("/broker/audit")
    clients.client("logs", region).create_log_group(logGroupName=group)
    return key, group


class TestKmsLogsAnchor(AnchorContract):
    """``KmsLogsAnchor`` passes the anchor contract."""

    @pytest.fixture(autouse=True)
    def _clients(self, clients: ClientFactory) -> None:
        self.clients = clients
        self.clock = FakeClock(datetime(2026, 12, 4, 10, 0, tzinfo=UTC))

    async def open_anchor(self, tmp_path: Path) -> AuditAnchor:
        """Anchors signed by a fresh key per region, in a fresh log group per region."""
        self.where = {r: _resources(self.clients, r) for r in (EU, US)}
        return KmsLogsAnchor(self.clients, self.where, clock=self.clock)

    def _events(self, region: Region, stream: str = STREAM) -> list[dict[str, object]]:
        logs = self.clients.client("logs", region)
        return logs.get_log_events(logGroupName=self.where[region][1], logStreamName=stream)[
            "events"
        ]

    def _append(self, region: Region, message: str, stream: str = STREAM) -> None:
        """What someone with ``logs:PutLogEvents`` but no signing key can do."""
        later = int(self.clock.now().timestamp() * 1000) + 10_000
        self.clients.client("logs", region).put_log_events(
            logGroupName=self.where[region][1], logStreamName=stream,
            logEvents=[{"timestamp": later, "message": message}],
        )  # fmt: skip

    def _sign(self, region: Region, fields: dict[str, object]) -> str:
        """A genuine signature over ``fields`` by the region's key (what the broker writes)."""
        signature = self.clients.client("kms", region).sign(
            KeyId=self.where[region][0], Message=anchor_payload(fields), MessageType="RAW",
            SigningAlgorithm="ECDSA_SHA_256",
        )["Signature"]  # fmt: skip
        return base64.b64encode(signature).decode()

    async def test_an_anchor_with_a_forged_signature_is_refused(self, place: AuditAnchor) -> None:
        """An appended anchor claiming a later number, signed by no KMS key, is not an answer."""
        await place.put(anchor(EU, 1, 3))
        body = {
            "anchor": json.loads(anchor_payload(asdict(anchor(EU, 2, 1)))),
            "signature": base64.b64encode(b"x" * 70).decode(),
        }
        self._append(EU, json.dumps(body))
        with pytest.raises(UnavailableError) as caught:
            await place.latest(EU, MAIN)
        assert caught.value.code == "audit_anchor_forged"

    async def test_a_signature_of_another_anchor_is_refused(self, place: AuditAnchor) -> None:
        """A genuine signature moved onto other fields does not verify."""
        await place.put(anchor(EU, 1, 3))
        (event,) = self._events(EU)
        body = json.loads(str(event["message"]))
        body["anchor"]["seq"] = 1
        body["anchor"]["number"] = 2
        self._append(EU, json.dumps(body))
        with pytest.raises(UnavailableError, match="not genuine"):
            await place.latest(EU, MAIN)

    async def test_the_clock_going_back_keeps_the_newest_last(self, place: AuditAnchor) -> None:
        """Timestamps never go backwards, so the newest anchor stays the stream's newest."""
        await place.put(anchor(EU, 1, 3))
        self.clock.jump(-3600)
        await place.put(anchor(EU, 2, 5))
        stamps = [int(str(e["timestamp"])) for e in self._events(EU)]
        assert stamps == sorted(stamps)
        assert stamps[1] > stamps[0]
        assert await place.latest(EU, MAIN) == anchor(EU, 2, 5)

    async def test_each_anchor_is_signed_in_its_own_region(self, place: AuditAnchor) -> None:
        """The EU anchor is signed with the EU key and written to the EU group only."""
        await place.put(anchor(EU, 1, 3))
        (event,) = self._events(EU)
        body = json.loads(str(event["message"]))
        verified = self.clients.client("kms", EU).verify(
            KeyId=self.where[EU][0], Message=anchor_payload(asdict(anchor(EU, 1, 3))),
            MessageType="RAW",
            Signature=base64.b64decode(body["signature"]), SigningAlgorithm="ECDSA_SHA_256",
        )  # fmt: skip
        assert verified["SignatureValid"]
        assert await place.latest(US, MAIN) is None

    async def test_an_anchor_cloudwatch_rejects_is_not_taken_as_kept(
        self, place: AuditAnchor
    ) -> None:
        """A clock a month off makes CloudWatch refuse the event: ``put`` says so."""
        self.clock.jump(-30 * 86400)
        with pytest.raises(UnavailableError, match="rejected"):
            await place.put(anchor(EU, 1, 3))
        assert await place.latest(EU, MAIN) is None

    async def test_each_writer_has_its_own_stream(self, place: AuditAnchor) -> None:
        """``main`` keeps the stream it had before writers; a replica's is named after it."""
        await place.put(anchor(EU, 1, 3))
        await place.put(anchor(EU, 1, 7, writer=REPLICA))
        assert stream_of(REPLICA) == "audit-anchors/eu-central-1-a1b2"
        (mine,) = self._events(EU)
        (theirs,) = self._events(EU, stream_of(REPLICA))
        assert json.loads(str(mine["message"]))["anchor"]["writer"] == "main"
        assert json.loads(str(theirs["message"]))["anchor"]["writer"] == REPLICA

    async def test_an_anchor_from_before_writers_is_mains(self, place: AuditAnchor) -> None:
        """Signed without a writer field (as the broker wrote them then): ``main``'s, genuine."""
        fields = asdict(anchor(EU, 1, 3))
        del fields["writer"]
        await place.put(anchor(US, 1, 1))  # creates nothing in EU: the stream is made here
        self.clients.client("logs", EU).create_log_stream(
            logGroupName=self.where[EU][1], logStreamName=STREAM
        )
        self._append(EU, json.dumps({"anchor": fields, "signature": self._sign(EU, fields)}))
        assert await place.latest(EU, MAIN) == anchor(EU, 1, 3)

    async def test_another_chains_genuine_anchor_is_refused(self, place: AuditAnchor) -> None:
        """``main``'s signed anchor copied into a replica's stream does not answer for it."""
        await place.put(anchor(EU, 1, 3))
        await place.put(anchor(EU, 1, 1, writer=REPLICA))
        (event,) = self._events(EU)
        self._append(EU, str(event["message"]), stream_of(REPLICA))
        with pytest.raises(UnavailableError, match="another chain"):
            await place.latest(EU, REPLICA)
