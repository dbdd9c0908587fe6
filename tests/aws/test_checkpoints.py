"""Checkpoints of live recordings, and their salvage after a replica's disk is lost (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.aws.checkpoints import PARTS_PREFIX, part_key, with_incomplete_marker
from broker.aws.clients import ClientFactory
from broker.aws.recordings import KEY_PREFIX, RecordingUploader, UploadPolicy
from broker.events import MemorySink
from broker.recording import castfile
from tests.aws.conftest import EU
from tests.aws.test_recordings import make_bucket, settings, spool_file

HEADER = b'{"version": 2, "width": 80, "height": 24, "session_id": "s"}\n'
LIVE = UploadPolicy(quiet_seconds=3600, backoff=(0.01, 0.05), checkpoint_seconds=0.1)
"""Nothing is ever quiet enough to upload; every pass may checkpoint."""


def event(t: float, text: str) -> bytes:
    """One output event line."""
    return castfile.event_line(t, "o", text)


def uploader(clients: ClientFactory, state: Path) -> RecordingUploader:
    """An eu-central-1 uploader on a new bucket, checkpointing at every call of ``put``."""
    bucket, key = make_bucket(clients, EU)
    return RecordingUploader(clients, settings(bucket, key), state, MemorySink(), LIVE)


def objects(up: RecordingUploader, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` in the uploader's bucket, by key."""
    s3, bucket = up._s3, up.settings.bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


class TestIncompleteMarker:
    """How a salvaged recording is ended."""

    @pytest.mark.parametrize(
        ("body", "marker_time"),
        [
            (HEADER, 0.0),
            (HEADER + event(1.5, "a") + event(2.25, "b"), 2.25),
            (HEADER + b"[not json\n", 0.0),
        ],
    )
    def test_marker_after_the_last_event(self, body: bytes, marker_time: float) -> None:
        """The marker takes the last event's time; a bare header or a garbled line, 0."""
        ended = with_incomplete_marker(body)
        assert ended.startswith(body)
        assert json.loads(ended.splitlines()[-1]) == [marker_time, "m", castfile.INCOMPLETE]

    def test_final_recording_is_left_alone(self) -> None:
        """A recording that already ends with its closing marker gets no second one."""
        body = HEADER + event(1.0, "a") + castfile.event_line(2.0, "m", "closed: exit")
        assert with_incomplete_marker(body) == body


class TestCheckpoint:
    """Parts of a live recording: whole new lines only, SSE-KMS, dropped after upload."""

    def test_parts_are_the_whole_lines_gained(self, clients: ClientFactory, tmp_path: Path) -> None:
        """Each part holds the whole lines since the last; a torn line waits; together
        they are the file's prefix."""
        up = uploader(clients, tmp_path)
        path = spool_file(tmp_path, "live-1", HEADER + event(1.0, "one") + b'[2.0, "o", "tw', False)
        assert up.checkpoints.put(path)
        with path.open("ab") as tail:
            tail.write(b'o"]\n' + event(3.0, "three"))
        assert up.checkpoints.put(path)
        assert not up.checkpoints.put(path)  # nothing new
        parts = objects(up, PARTS_PREFIX)
        assert list(parts) == [
            part_key("live-1.cast", 0),
            part_key("live-1.cast", len(HEADER + event(1.0, "one"))),
        ]
        assert b"".join(parts.values()) == path.read_bytes()
        head = up._s3.head_object(Bucket=up.settings.bucket, Key=next(iter(parts)))
        assert head["ServerSideEncryption"] == "aws:kms"

    def test_pass_checkpoints_live_and_upload_drops_parts(
        self, clients: ClientFactory, tmp_path: Path
    ) -> None:
        """An upload pass puts a part of a live recording; once it is finished and uploaded,
        its parts are gone."""
        up = uploader(clients, tmp_path)
        path = spool_file(tmp_path, "live-2", HEADER + event(1.0, "x"), False)
        assert up.upload_ready() == 0
        assert list(objects(up, PARTS_PREFIX)) == [part_key("live-2.cast", 0)]
        path.with_name(path.name + castfile.DONE_SUFFIX).touch()
        assert up.upload_ready() == 1
        assert objects(up, PARTS_PREFIX) == {}
        assert list(objects(up, KEY_PREFIX)) == [f"{KEY_PREFIX}live-2.cast"]


class TestSalvage:
    """A survivor rebuilds a dead replica's recordings from their parts."""

    def test_lost_disk_is_salvaged_incomplete(self, clients: ClientFactory, tmp_path: Path) -> None:
        """The dead replica's parts become its recording, ended ``incomplete``, audited;
        a session it did not hold is not touched."""
        dead = uploader(clients, tmp_path / "dead")
        data = HEADER + event(1.0, "before the loss")
        dead.checkpoints.put(spool_file(tmp_path / "dead", "lost-1", data, False))
        dead.checkpoints.put(spool_file(tmp_path / "dead", "other-1", data, False))
        events = MemorySink()
        survivor = RecordingUploader(clients, dead.settings, tmp_path / "survivor", events, LIVE)
        assert survivor.salvage(["lost-1", "never-1"]) == ["lost-1.cast"]
        stored = objects(survivor, KEY_PREFIX)[f"{KEY_PREFIX}lost-1.cast"]
        assert stored == data + castfile.event_line(1.0, "m", castfile.INCOMPLETE)
        assert list(objects(survivor, PARTS_PREFIX)) == [part_key("other-1.cast", 0)]
        assert [e["session_id"] for e in events.of("recording.stored")] == ["lost-1"]

    def test_an_uploaded_recording_is_never_replaced(
        self, clients: ClientFactory, tmp_path: Path
    ) -> None:
        """The dead replica's own upload (the fuller file) got there first: no salvage."""
        dead = uploader(clients, tmp_path / "dead")
        path = spool_file(tmp_path / "dead", "back-1", HEADER + event(1.0, "full"), False)
        dead.checkpoints.put(path)
        full = path.read_bytes() + castfile.event_line(2.0, "m", "closed: exit")
        dead._s3.put_object(Bucket=dead.settings.bucket, Key=f"{KEY_PREFIX}back-1.cast", Body=full)
        survivor = RecordingUploader(
            clients, dead.settings, tmp_path / "survivor", MemorySink(), LIVE
        )
        assert survivor.salvage(["back-1"]) == []
        assert objects(survivor, KEY_PREFIX)[f"{KEY_PREFIX}back-1.cast"] == full

    def test_a_file_on_this_disk_is_left_to_the_pass(
        self, clients: ClientFactory, tmp_path: Path
    ) -> None:
        """On a shared folder the recording itself is here, fuller than its parts."""
        up = uploader(clients, tmp_path)
        up.checkpoints.put(spool_file(tmp_path, "here-1", HEADER + event(1.0, "x"), False))
        assert up.salvage(["here-1"]) == []
        assert objects(up, KEY_PREFIX) == {}
