"""Fixtures of the notification tests: a real webhook receiver on loopback, a clock, a trail.

The receiver (``tests.fixtures.webhook``) runs over TLS with a certificate
from a CA the fixture made, or over plain http for dev mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.audit import Auditor
from broker.clock import FakeClock
from broker.config import Config, config_from_mapping
from broker.notify.base import ConsentRequestNotice
from broker.notify.fanout import Fanout
from broker.typing import OrgId, Region, TicketId
from tests.aws.conftest import fake_aws
from tests.aws.moto_server import MotoServer
from tests.fixtures.webhook import Receiver, serve_receiver

EU = Region("eu-central-1")
SECRET = b"s3cr3t-for-tests-0123456789abcdef0123456789"
NOTICE = ConsentRequestNotice(
    org_id=OrgId("acme-de"),
    region=EU,
    request_id="0190f3a2-7c1e-7b2a-9c4d-1a2b3c4d5e6f",
    ticket_id=TicketId("T-1001"),
    link="https://broker.example/console/requests/0190f3a2-7c1e-7b2a-9c4d-1a2b3c4d5e6f",
)
AWS_REGION = {"bucket": "rec-eu", "kms_key_id": "alias/k", "table": "broker", "log_group": "/b/a"}
"""The settings every AWS-mode region needs; the tests add an endpoint, a topic, a prefix."""
REASON = "Customer Jane Doe +49 30 1234567 reports the export fails"
"""A reason text as an engineer writes it: it must never reach a receiver."""


@pytest.fixture
async def receiver(tmp_path) -> AsyncIterator[Receiver]:
    """An HTTPS receiver whose certificate only ``receiver.ca_file`` vouches for."""
    async for served in serve_receiver(tmp_path, https=True):
        yield served


@pytest.fixture
async def http_receiver(tmp_path) -> AsyncIterator[Receiver]:
    """A plain-http receiver (dev mode only)."""
    async for served in serve_receiver(tmp_path, https=False):
        yield served


@pytest.fixture(params=["https", "dev-http"])
async def each_receiver(request, tmp_path) -> AsyncIterator[Receiver]:
    """Each kind in turn: the HTTPS receiver, then the dev-mode plain-http one."""
    async for served in serve_receiver(tmp_path, https=request.param == "https"):
        yield served


class SleepLog(FakeClock):
    """A fake clock that remembers every sleep asked of it (no real waiting)."""

    def __init__(self) -> None:
        super().__init__(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


@pytest.fixture
def clock() -> SleepLog:
    return SleepLog()


class Trail:
    """A real ``Auditor``, keeping the records it wrote (what the trail really holds)."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor
        self.records: list[dict[str, object]] = []

    def emit(self, event: str, /, *, region: Region, **fields: object) -> object:
        record = self.auditor.emit(event, region=region, **fields)
        self.records.append(record)
        return record

    def check(self, event: str, /, *, region: Region, **fields: object) -> None:
        self.auditor.check(event, region=region, **fields)

    def of(self, event: str) -> list[dict[str, object]]:
        return [r for r in self.records if r["event"] == event]


@pytest.fixture
def trail(tmp_path, clock) -> Iterator[Trail]:
    auditor = Auditor(tmp_path / "state", clock)
    yield Trail(auditor)
    auditor.close()


@pytest.fixture
def secret_file(tmp_path) -> Path:
    path = tmp_path / "acme-de.key"
    path.write_bytes(SECRET + b"\n")
    path.chmod(0o600)
    return path


def webhook_config(receiver: Receiver, secret_file: Path, **notify) -> Config:
    """A local-mode config with one webhook (acme-de) at ``receiver``."""
    hook: dict[str, object] = {"url": receiver.url, "secret_file": str(secret_file)}
    if receiver.ca_file is not None:
        hook["ca_file"] = str(receiver.ca_file)
    if receiver.url.startswith("http:"):
        notify = {"allow_http_loopback": True, **notify}
    return config_from_mapping({"notify": {"webhooks": {"acme-de": hook}, **notify}})


async def announce(notifier: Fanout, notice: ConsentRequestNotice = NOTICE) -> None:
    """Announce ``notice``, wait until every channel delivered or gave up, then close."""
    await notifier.consent_requested(notice)
    for channel in notifier.channels:
        await channel.dispatcher.wait()
    await notifier.aclose()


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """A moto server (SNS, SQS, Secrets Manager) with fake credentials, for one module."""
    with pytest.MonkeyPatch.context() as patch, fake_aws() as server:
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_DEFAULT_REGION", raising=False)
        yield server
