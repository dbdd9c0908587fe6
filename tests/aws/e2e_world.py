"""The AWS-mode world of the end-to-end tests: three moto servers, resources, a config.

One moto server is the control plane (the DynamoDB store, in eu-west-1), one
stands for eu-central-1, one for us-east-1. ``make_world`` makes each
region's bucket, KMS keys and log group in its own server and writes the
broker's config naming them; the helpers open sessions with the CLI and read
what each server holds afterwards.
"""

from __future__ import annotations

import asyncio
import json
from asyncio.subprocess import PIPE, STDOUT, Process
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker.auth.local import LocalAuthority
from broker.aws.clients import ClientFactory
from broker.aws.dynamodb.store import DynamoStore
from broker.clock import SystemClock
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
    prefix: str = "e2e"
    """The secret prefix of this world's broker: each world's own, so secrets never carry over."""


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
        r: {**world.resources[r], "endpoint_url": world.servers[r].url}
        | {"secret_prefix": world.prefix}
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


async def make_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: dict[Region, MotoServer]
) -> World:
    """Resources in each server, and a config naming them (the broker not yet started)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("BROKER_API", raising=False)
    setup = ClientFactory({r: s.url for r, s in servers.items()}, max_attempts=1)
    store = DynamoStore(setup, CONTROL, unique("broker-e2e"))
    store.create_table()
    await store.close()
    resources = {EU: region_resources(setup, EU), US: region_resources(setup, US)}
    state = tmp_path / "state"
    state.mkdir()
    # AWS mode verifies an identity provider's tokens: this one stands in for it.
    issuer = LocalAuthority.from_state(tmp_path / "issuer", clock=SystemClock())
    config = tmp_path / "broker.json"
    found = World(servers, setup, resources, config, state, issuer, unique("e2e"))
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
    return {s["Name"] for s in listing["SecretList"] if s["Name"].startswith(f"{world.prefix}/")}


async def eventually(condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` (0.1 s apart, ``WAIT_STEPS`` times): a bound, not a timing claim."""
    for _ in range(WAIT_STEPS):
        if condition():
            return True
        await asyncio.sleep(0.1)
    return False


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
