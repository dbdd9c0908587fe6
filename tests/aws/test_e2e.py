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
from asyncio.subprocess import PIPE, STDOUT, Process
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker.audit import AuditQuery
from broker.audit.anchor import TAIL_EVENT
from broker.auth.local import LocalAuthority
from broker.aws.clients import ClientFactory
from broker.aws.dynamodb.store import DynamoStore
from broker.ca import CA_KEY_NAME
from broker.clock import SystemClock
from broker.config import load_config
from broker.runtime.root import Runtime
from broker.typing import Region
from tests.aws.conftest import EU, US, unique
from tests.aws.moto_server import MotoServer
from tests.aws.test_recordings import make_bucket
from tests.cli.test_walkthrough import cli, run_ssh, ssh_argv

CONTROL = Region("eu-west-1")
WAIT_STEPS = 300
"""Polls (0.1 s apart) before giving up on an upload: a bound, not a timing claim."""


@dataclass
class World:
    """The servers, the resources made in them, and the broker's config file."""

    servers: dict[Region, MotoServer]
    setup: ClientFactory
    resources: dict[Region, dict[str, str]]
    config_path: Path
    state: Path
    issuer: LocalAuthority


@pytest.fixture(scope="module")
def moto_control() -> Iterator[MotoServer]:
    """The control plane's moto server (the store's DynamoDB table)."""
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def region_resources(setup: ClientFactory, region: Region, **overrides: str) -> dict[str, str]:
    """A bucket (in ``region`` unless overridden), KMS keys and a log group there."""
    bucket, key = make_bucket(setup, overrides.get("bucket_region", region))
    group = unique("/broker/audit")
    setup.client("logs", region).create_log_group(logGroupName=group)
    anchor_key = setup.client("kms", region).create_key(
        KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256"
    )["KeyMetadata"]["Arn"]
    return {
        "bucket": bucket, "kms_key_id": key, "table": "unused", "log_group": group,
        "anchor_key_id": anchor_key,
    }  # fmt: skip


def write_config(world: World, table: str) -> None:
    """The broker's JSON config: AWS mode, two served regions, demo targets on."""
    regions = {
        r: {**world.resources[r], "endpoint_url": world.servers[r].url, "secret_prefix": "e2e"}
        for r in (EU, US)
    }
    jwks = world.state.parent / "jwks.json"
    jwks.write_text(json.dumps(world.issuer.jwks()))
    config = {
        "mode": "aws",
        "regions": [EU, US],
        "demo_targets": True,
        "auth": {"jwks_file": str(jwks)},
        "aws": {
            "store_region": CONTROL,
            "store_table": table,
            "store_endpoint_url": world.servers[CONTROL].url,
            # Only the recorder's ``.done`` marker can make a recording ready this soon.
            "recordings": {"quiet_seconds": 3600, "poll_seconds": 0.1, "max_backoff_seconds": 0.5},
            "regions": regions,
            # The demo targets are loopback shells; EC2 lookups are tested in test_upstream.
            "targets": "inventory",
        },
    }
    world.config_path.write_text(json.dumps(config))


@pytest.fixture
async def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    moto_eu: MotoServer,
    moto_us: MotoServer,
    moto_control: MotoServer,
) -> World:
    """Resources in each server, and a config naming them (the broker not yet started)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("BROKER_API", raising=False)
    servers = {EU: moto_eu, US: moto_us, CONTROL: moto_control}
    setup = ClientFactory({r: s.url for r, s in servers.items()}, max_attempts=1)
    store = DynamoStore(setup, CONTROL, unique("broker-e2e"))
    store.create_table()
    await store.close()
    resources = {EU: region_resources(setup, EU), US: region_resources(setup, US)}
    state = tmp_path / "state"
    state.mkdir()
    # AWS mode verifies an identity provider's tokens: this one stands in for it.
    issuer = LocalAuthority.from_state(tmp_path / "issuer", clock=SystemClock())
    found = World(servers, setup, resources, tmp_path / "broker.json", state, issuer)
    write_config(found, store.table.name)
    return found


async def open_and_run(
    world: World, capsys: pytest.CaptureFixture[str], ticket: str, staff: str
) -> str:
    """Open a session with the CLI, run a command through the gateway; the session id."""
    token = world.issuer.mint_token(staff, "engineer")
    status, out, err = await cli(
        capsys,
        "session",
        "open",
        "--ticket",
        ticket,
        "--target",
        "app-1",
        "--token",
        token,
        "--json",
    )
    assert status == 0, err
    grant = json.loads(out)
    done = await asyncio.to_thread(run_ssh, grant["ssh_command"], "echo e2e-$((40+2))\nexit 0\n")
    assert "e2e-42" in done.stdout
    return str(grant["session_id"])


async def uploaded(world: World, region: Region, session_id: str) -> dict[str, Any]:
    """Wait until the session's recording left the spool; its S3 object's metadata."""
    spool = world.state / "regions" / region / "recordings"
    s3 = world.setup.client("s3", region)
    bucket, key = world.resources[region]["bucket"], f"recordings/{session_id}.cast"
    for _ in range(WAIT_STEPS):
        if not list(spool.glob(f"{session_id}.cast*")):
            return dict(s3.head_object(Bucket=bucket, Key=key))
        await asyncio.sleep(0.1)
    raise AssertionError("recording was not uploaded")


def bucket_keys(world: World, region: Region) -> set[str]:
    """Every object key in ``region``'s bucket."""
    s3 = world.setup.client("s3", region)
    listing = s3.list_objects_v2(Bucket=world.resources[region]["bucket"])
    return {o["Key"] for o in listing.get("Contents", [])}


def log_messages(world: World, region: Region) -> str:
    """Every CloudWatch event of ``region``'s log group, concatenated."""
    logs = world.setup.client("logs", region)
    found = logs.filter_log_events(logGroupName=world.resources[region]["log_group"])
    return "\n".join(e["message"] for e in found["events"])


def secret_names(world: World, region: Region) -> set[str]:
    """The names of the broker's secrets in ``region``."""
    listing = world.setup.client("secretsmanager", region).list_secrets()
    return {s["Name"] for s in listing["SecretList"] if s["Name"].startswith("e2e/")}


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
            assert secret_names(world, region) == {f"e2e/{region}/{CA_KEY_NAME}"}
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


async def eventually(condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` (0.1 s apart, ``WAIT_STEPS`` times): a bound, not a timing claim."""
    for _ in range(WAIT_STEPS):
        if condition():
            return True
        await asyncio.sleep(0.1)
    return False


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


async def grant(world: World, capsys: pytest.CaptureFixture[str], ticket: str, staff: str) -> Any:
    """``broker session open --json`` with a token from the identity provider."""
    token = world.issuer.mint_token(staff, "engineer")
    status, out, err = await cli(
        capsys, "session", "open", "--ticket", ticket, "--target", "app-1", "--token", token,
        "--json",
    )  # fmt: skip
    assert status == 0, err
    return json.loads(out)


async def live_session(
    world: World, capsys: pytest.CaptureFixture[str], ticket: str, staff: str
) -> tuple[Process, str]:
    """An ``ssh`` session left open (its input not yet closed), once its recording started."""
    answer = await grant(world, capsys, ticket, staff)
    session_id = str(answer["session_id"])
    live = await asyncio.create_subprocess_exec(
        *ssh_argv(answer["ssh_command"]), stdin=PIPE, stdout=PIPE, stderr=STDOUT
    )
    spool = world.state / "regions" / EU / "recordings" / f"{session_id}.cast"
    assert await eventually(spool.exists)
    return live, session_id


async def refused_session(
    world: World, capsys: pytest.CaptureFixture[str], ticket: str, staff: str
) -> str:
    """A grant whose ``ssh`` the gateway refuses; what the engineer saw."""
    answer = await grant(world, capsys, ticket, staff)
    done = await asyncio.to_thread(run_ssh, answer["ssh_command"], "echo never\nexit 0\n")
    assert "never" not in done.stdout
    return done.stdout
