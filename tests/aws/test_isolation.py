"""End to end: everything a session does in AWS mode stays at its region's endpoint.

One moto server stands for eu-central-1, another for us-east-1. A session's CA
material (Secrets Manager), target lookup and key push (EC2, Instance
Connect), recording (S3 + KMS) and audit (CloudWatch Logs) all go through one
``ClientFactory``; afterwards that factory has built clients for the session's
region only, and the other region's server has received no request at all.
"""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from broker.aws.clients import ClientFactory
from broker.aws.cloudwatch import CloudWatchSink
from broker.aws.recordings import DONE, RecordingUploader, UploadPolicy
from broker.aws.secrets import SecretsManagerKeyStore
from broker.aws.targets import Ec2Targets
from broker.ca import CARegistry
from broker.clock import FakeClock
from broker.config.aws import AwsRegionSettings
from broker.events import MemorySink
from broker.models import Org, Session
from broker.typing import OrgId, Region
from tests.aws.conftest import EU, US, unique
from tests.aws.moto_server import MotoServer
from tests.aws.test_recordings import make_bucket
from tests.aws.test_targets import launch
from tests.store.world import T0, session, us_ticket_session


async def handle_session(
    clients: ClientFactory, setup: ClientFactory, sess: Session, tmp_path: Path
) -> None:
    """Everything the broker does in AWS for one session, through ``clients``."""
    region = sess.region
    org = Org(OrgId(unique("org")), region, "standard")
    launch(setup, region, org.id, sess.target)
    bucket, key = make_bucket(setup, region)
    group = unique("/broker/audit")
    setup.client("logs", region).create_log_group(logGroupName=group)
    settings = AwsRegionSettings(region, bucket, key, "t", group)
    ca = CARegistry(SecretsManagerKeyStore(clients, unique("iso")), FakeClock(T0))
    await ca.sign(sess, asyncssh.generate_private_key("ssh-ed25519"))
    targets = Ec2Targets(clients)
    await targets.push_key(await targets.resolve(org, sess.target), "support")
    spool = tmp_path / "regions" / region / "recordings"
    spool.mkdir(parents=True)
    (spool / f"{sess.id}.cast").write_bytes(b"output")
    (spool / f"{sess.id}.cast{DONE}").touch()
    assert (
        RecordingUploader(clients, settings, tmp_path, MemorySink(), UploadPolicy()).upload_ready()
        == 1
    )
    sink = CloudWatchSink(clients, {region: group}, "gw-1")
    sink.emit("session.closed", region=region, session_id=sess.id)
    assert sink.flush() == 1


class TestRegionIsolation:
    """A session touches its own region's endpoint only."""

    @pytest.mark.parametrize(
        ("sess", "other"),
        [(session(), US), (us_ticket_session("sess-us"), EU)],
        ids=["eu-central-1", "us-east-1"],
    )
    async def test_session_stays_in_region(
        self,
        moto_eu: MotoServer,
        moto_us: MotoServer,
        tmp_path: Path,
        sess: Session,
        other: Region,
    ) -> None:
        """The factory built no client for the other region; its server saw nothing."""
        servers = {EU: moto_eu, US: moto_us}
        endpoints = {EU: moto_eu.url, US: moto_us.url}
        clients = ClientFactory(endpoints, max_attempts=1)
        setup = ClientFactory(endpoints, max_attempts=1)
        marks = {r: s.mark() for r, s in servers.items()}
        await handle_session(clients, setup, sess, tmp_path)
        assert clients.regions_built() == {sess.region}
        assert servers[other].since(marks[other]) == []
        own = servers[sess.region].since(marks[sess.region])
        assert {s.region for s in own} == {sess.region}
        assert {s.service for s in own} >= {"secretsmanager", "ec2", "s3", "logs"}
