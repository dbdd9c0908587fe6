"""AWS mode: a unit killed mid-session loses no recording.

In AWS mode each replica spools on a disk of its own, so the recording of a
replica killed with SIGKILL is finished by its next start on that machine
(systemd's ``Restart=always`` in the launch template). Here the control plane
(``broker api``) and the unit (``broker region``) are real processes against
the moto servers, the unit on a state folder of its own: after kill -9 and a
restart under the same replica id, the session is closed ``broker_killed``
in the store and the recording, marked ``incomplete``, is in the region's
bucket with what was typed before the kill.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from broker.aws.dynamodb.store import DynamoStore
from broker.recording import castfile
from broker.runtime.unit import KILLED
from broker.typing import SessionId
from tests.aws.conftest import EU
from tests.aws.e2e_world import CONTROL, World
from tests.fixtures.waiting import poll_until
from tests.runtime.roles import Cluster, Shell

UPLOAD_SECONDS = 60.0
"""How long the restarted unit gets to upload: a bound, not a timing claim."""


@pytest.fixture
def cluster(world: World) -> Iterator[Cluster]:
    """Role processes on the world's state folder; all stopped after the test."""
    started = Cluster(world.state.parent)
    yield started
    started.stop_all()


def unit_config(world: World) -> dict[str, Any]:
    """The world's AWS config for replica ``a``, whose uploads start at once."""
    config = json.loads(world.config_path.read_text())
    return {**config, "replica_id": "a"}


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
        store = DynamoStore(world.setup, CONTROL, config["aws"]["store_table"])
        try:
            session = await store.get_session(SessionId(session_id))
        finally:
            await store.close()
        assert (session.state, session.end_reason) == ("closed", KILLED)
        assert not list((machine / "regions" / EU / "recordings").glob("*.cast"))
