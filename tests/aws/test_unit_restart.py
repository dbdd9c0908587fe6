"""AWS mode: a unit killed mid-session loses no recording, with its disk or without.

In AWS mode each replica spools on a disk of its own. The control plane
(``broker api``) and the units (``broker region``) run here as real
processes against the moto servers, each unit on a state folder of its own:

- killed with SIGKILL and restarted on the same machine (systemd's
  ``Restart=always``), the unit marks its recording ``incomplete`` and
  uploads it from its disk;
- killed and its disk gone (the machine lost), a surviving replica closes the
  session and rebuilds the recording from the parts checkpointed in the
  region's bucket (``broker.aws.checkpoints``).

Either way the session is closed ``broker_killed`` in the store and the
recording, marked ``incomplete``, is in the region's bucket with what was
typed before the kill.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from broker.aws.checkpoints import PARTS_PREFIX
from broker.aws.dynamodb.store import DynamoStore
from broker.recording import castfile
from broker.runtime.unit import KILLED
from broker.typing import SessionId
from tests.aws.conftest import EU
from tests.aws.e2e_world import CONTROL, World
from tests.fixtures.waiting import poll_until
from tests.runtime.roles import Cluster, Shell, at_port

UPLOAD_SECONDS = 60.0
"""How long the restarted unit gets to upload: a bound, not a timing claim."""


@pytest.fixture
def cluster(world: World) -> Iterator[Cluster]:
    """Role processes on the world's state folder; all stopped after the test."""
    started = Cluster(world.state.parent)
    yield started
    started.stop_all()


def unit_config(world: World, replica: str = "a") -> dict[str, Any]:
    """The world's AWS config for ``replica``, checkpointing live recordings twice a second."""
    config = json.loads(world.config_path.read_text())
    config["aws"]["recordings"]["checkpoint_seconds"] = 0.5
    return {**config, "replica_id": replica}


def recording_in_bucket(world: World, session_id: str) -> bytes | None:
    """The session's recording object in eu-central-1's bucket, or None."""
    s3 = world.setup.client("s3", EU)
    try:
        answer = s3.get_object(
            Bucket=world.resources[EU]["bucket"], Key=f"recordings/{session_id}.cast"
        )
    except s3.exceptions.NoSuchKey:
        return None
    return bytes(answer["Body"].read())


class TestKilledUnit:
    """kill -9 of ``broker region`` mid-session, then its restart on the same machine."""

    async def test_recording_is_marked_and_uploaded(self, world: World, cluster: Cluster) -> None:
        """Closed ``broker_killed``; the bucket holds the recording with an incomplete marker."""
        config = json.loads(world.config_path.read_text())
        cluster.start("api", "api", **config)
        machine = cluster.root / "machine-a"
        cluster.start("eu-a", "region", "--region", EU, state=machine, **unit_config(world))
        token = world.issuer.mint_token("eng-de-1", "engineer")
        session_id, argv = cluster.open_session("--token", token)
        shell = Shell.open(argv, cluster.env())
        try:
            assert shell.say("echo before-$((20+22))", b"before-42"), shell.seen
            spooled = machine / "regions" / EU / "recordings" / f"{session_id}.cast"
            # The recorder flushes within half a second; what it flushed must survive.
            assert poll_until(lambda: b"before-42" in spooled.read_bytes(), 10)
            cluster.stop("eu-a", signal.SIGKILL)
            assert shell.ended(), shell.seen
        finally:
            shell.close()
        cluster.start("eu-a", "region", "--region", EU, state=machine, **unit_config(world))
        assert poll_until(lambda: recording_in_bucket(world, session_id), UPLOAD_SECONDS)
        uploaded = recording_in_bucket(world, session_id) or b""
        assert b"before-42" in uploaded
        last = json.loads(uploaded.rstrip(b"\n").rsplit(b"\n", 1)[-1])
        assert last[1:] == ["m", castfile.INCOMPLETE]
        assert await session_end(world, config, session_id) == ("closed", KILLED)
        spool = machine / "regions" / EU / "recordings"
        assert poll_until(lambda: not list(spool.glob("*.cast")), 30)  # deleted once confirmed


def parts_in_bucket(world: World, session_id: str) -> list[str]:
    """The keys of the session's checkpointed parts in eu-central-1's bucket."""
    s3 = world.setup.client("s3", EU)
    listed = s3.list_objects_v2(
        Bucket=world.resources[EU]["bucket"], Prefix=f"{PARTS_PREFIX}{session_id}.cast/"
    )
    return [o["Key"] for o in listed.get("Contents", [])]


class TestLostMachine:
    """kill -9 of one replica and its disk gone: the other replica salvages the recording."""

    async def test_survivor_salvages_from_checkpoints(self, world: World, cluster: Cluster) -> None:
        """What was typed before the loss is in the bucket, ended ``incomplete``; the
        session is closed ``broker_killed``; the parts are gone."""
        config = json.loads(world.config_path.read_text())
        cluster.start("api", "api", **config)
        cluster.start("eu-a", "region", "--region", EU, state=cluster.root / "machine-a",
                      **unit_config(world, "a"))  # fmt: skip
        lost = cluster.root / "machine-b"
        victim = cluster.start("eu-b", "region", "--region", EU, state=lost,
                               **unit_config(world, "b"))  # fmt: skip
        token = world.issuer.mint_token("eng-de-1", "engineer")
        session_id, argv = cluster.open_session("--token", token)
        port = int(victim["gateways"][EU].split(":")[1])
        shell = Shell.open(at_port(argv, port), cluster.env())
        try:
            assert shell.say("echo lost-$((20+22))", b"lost-42"), shell.seen
            # The part with the typed line is in the bucket before the machine goes.
            parts = lambda: b"lost-42" in b"".join(part_bodies(world, session_id))  # noqa: E731
            assert poll_until(parts, 30)
            cluster.stop("eu-b", signal.SIGKILL)
            shutil.rmtree(lost)
            assert shell.ended(), shell.seen
        finally:
            shell.close()
        assert poll_until(lambda: recording_in_bucket(world, session_id), UPLOAD_SECONDS)
        uploaded = recording_in_bucket(world, session_id) or b""
        assert b"lost-42" in uploaded
        assert json.loads(uploaded.rstrip(b"\n").rsplit(b"\n", 1)[-1])[1:] == [
            "m", castfile.INCOMPLETE,
        ]  # fmt: skip
        assert await session_end(world, config, session_id) == ("closed", KILLED)
        assert poll_until(lambda: not parts_in_bucket(world, session_id), 30)


def part_bodies(world: World, session_id: str) -> list[bytes]:
    """The session's parts, by offset."""
    s3, bucket = world.setup.client("s3", EU), world.resources[EU]["bucket"]
    keys = parts_in_bucket(world, session_id)
    return [s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in sorted(keys)]


async def session_end(world: World, config: dict[str, Any], session_id: str) -> tuple[str, str]:
    """The session's state and end reason, read from the DynamoDB store."""
    store = DynamoStore(world.setup, CONTROL, config["aws"]["store_table"])
    try:
        session = await store.get_session(SessionId(session_id))
    finally:
        await store.close()
    return session.state, str(session.end_reason)
