"""End to end in AWS mode: ``broker run`` against three moto servers, real ``ssh``.

One moto server is the control plane (the DynamoDB store, in eu-west-1), one
stands for eu-central-1, one for us-east-1. The broker runs in AWS mode with
demo targets on loopback; a session on an eu-central-1 ticket and one on a
us-east-1 ticket each run a command through the real gateway. Afterwards each
region's recording (S3, SSE-KMS), audit events (CloudWatch Logs) and CA key
(Secrets Manager) are at that region's endpoint, and that endpoint received
no request naming any other region.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from broker.audit import AuditQuery
from broker.audit.anchor import TAIL_EVENT
from broker.ca import CA_KEY_NAME
from broker.config import load_config
from broker.gateway.keys import CLIENT_KEY_NAME, HOST_KEY_NAME
from broker.runtime.root import Runtime
from tests.aws.conftest import EU, US
from tests.aws.e2e_world import (
    CONTROL,
    World,
    bucket_keys,
    cli,
    eventually,
    live_session,
    log_messages,
    open_and_run,
    refused_session,
    secret_names,
    uploaded,
)
from tests.aws.test_recordings import make_bucket


class TestAwsModeEndToEnd:
    """``Runtime`` in AWS mode, each session's traces at its own region's endpoint."""

    async def test_sessions_stay_in_their_region(
        self, world: World, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Recording, audit and CA key of each session are at its region's endpoint only."""
        marks = {r: s.mark() for r, s in world.servers.items()}
        runtime = Runtime(load_config(world.config_path))
        await runtime.start()
        try:
            sessions = {
                EU: await open_and_run(world, capsys, "T-1001", "eng-de-1"),
                US: await open_and_run(world, capsys, "T-2001", "eng-us-1"),
            }
            heads = {r: await uploaded(world, r, sid) for r, sid in sessions.items()}
        finally:
            await runtime.stop()
        for region, other in ((EU, US), (US, EU)):
            assert heads[region]["ServerSideEncryption"] == "aws:kms"
            assert world.resources[region]["kms_key_id"] in heads[region]["SSEKMSKeyId"]
            assert f"recordings/{sessions[region]}.cast" in bucket_keys(world, region)
            assert f"recordings/{sessions[other]}.cast" not in bucket_keys(world, region)
            messages = log_messages(world, region)
            assert sessions[region] in messages
            assert sessions[other] not in messages
            names = {CA_KEY_NAME, HOST_KEY_NAME, CLIENT_KEY_NAME}
            assert secret_names(world, region) == {f"{world.prefix}/{region}/{n}" for n in names}
            seen = world.servers[region].since(marks[region])
            assert {s.service for s in seen} >= {"s3", "logs", "secretsmanager"}
            assert {s.region for s in seen} == {region}
        control = world.servers[CONTROL].since(marks[CONTROL])
        assert {(s.service, s.region) for s in control} == {("dynamodb", CONTROL)}

    async def test_bucket_in_another_region_refuses_that_region(self, world: World) -> None:
        """A us-east-1 bucket that lives in eu-central-1: no us-east-1 gateway, audited."""
        config = json.loads(world.config_path.read_text())
        wrong, _ = make_bucket(world.setup, EU)
        config["aws"]["regions"][US]["bucket"] = wrong
        world.config_path.write_text(json.dumps(config))
        runtime = Runtime(load_config(world.config_path))
        endpoints = await runtime.start()
        try:
            assert endpoints["refused"] == {US: "bucket_region_mismatch"}
            assert set(endpoints["gateways"]) == {EU}
            assert US not in runtime.gateways
        finally:
            await runtime.stop()
        assert "recordings.region_mismatch" in log_messages(world, US)


class TestRegionalOutage:
    """eu-central-1's S3, CloudWatch Logs and KMS down (its moto server stopped), then back."""

    async def test_nothing_is_lost(self, world: World, capsys: pytest.CaptureFixture[str]) -> None:
        """A live session goes on; new EU sessions are refused, US ones open; the recording
        waits in the spool and the events in memory; both arrive after."""
        runtime = Runtime(load_config(world.config_path))
        await runtime.start()
        assert runtime.aws is not None
        try:
            live, session_id = await live_session(world, capsys, "T-1001", "eng-de-1")
            world.servers[EU].stop()
            failing = runtime.aws.uploaders[EU]
            # The uploader retries with backoff (0.1 s to 0.5 s here, a minute by default):
            # many failed passes stand for minutes of outage.
            assert await eventually(lambda: failing.failures >= 5)
            refused = await refused_session(world, capsys, "T-1001", "eng-de-1")
            assert "the region's recording storage cannot be reached" in refused
            await open_and_run(world, capsys, "T-2001", "eng-us-1")
            async with asyncio.timeout(60):
                out, _ = await live.communicate(b"echo during-$((6*7))\nexit 0\n")
            assert b"during-42" in out
            status, out, _ = await cli(capsys, "recordings", "pending", "--region", EU, "--json")
            assert status == 0
            assert session_id in out
            assert runtime.aws.cloudwatch.pending(EU) > 0
            world.servers[EU].start()
            await uploaded(world, EU, session_id)
            assert await eventually(lambda: runtime.aws.cloudwatch.pending(EU) == 0)  # type: ignore[union-attr]
        finally:
            await runtime.stop()
        assert runtime.aws.cloudwatch.dropped == 0
        messages = log_messages(world, EU)
        assert f'"session_id": "{session_id}"' in messages
        chain = runtime.auditor.query(EU, AuditQuery()).records  # type: ignore[union-attr]
        mirrored = {json.loads(m).get("seq") for m in messages.splitlines() if m}
        assert {r["seq"] for r in chain if r["event"] != TAIL_EVENT} <= mirrored
        _, out, _ = await cli(capsys, "recordings", "pending", "--region", EU, "--json")
        assert session_id not in out
        status, out, err = await cli(capsys, "audit", "verify", "--config", str(world.config_path))
        assert status == 0, out + err
