"""The recording uploader: region check, confirmed uploads, outages, strict mode."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from broker.api.recordings import RecordingArchive
from broker.auth.principal import Principal
from broker.aws import recordings
from broker.aws.clients import ClientFactory
from broker.aws.recordings import (
    DONE,
    RecordingUploader,
    UploadPolicy,
    bucket_region,
    sha256_b64,
)
from broker.clock import FakeClock
from broker.config.aws import AwsRegionSettings
from broker.errors import ConflictError, InputError, NotFoundError, RegionMismatch, UnavailableError
from broker.events import MemorySink
from broker.recording.recorder import RecordingStore
from broker.typing import Region, SessionId
from broker.viewer import snapshots
from broker.viewer.web import RegionViewer
from tests.aws.conftest import EU, US, unique
from tests.aws.moto_server import MotoServer
from tests.recording.test_recorder import make_session, make_store
from tests.store.world import T0, session

NOW = UploadPolicy(quiet_seconds=0, backoff=(0.01, 0.05))


def make_bucket(clients: ClientFactory, region: str) -> tuple[str, str]:
    """A new bucket in ``region`` and a KMS key there."""
    bucket = unique("recordings")
    s3 = clients.client("s3", region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    key = clients.client("kms", region).create_key()["KeyMetadata"]["KeyId"]
    return bucket, key


def settings(bucket: str, key: str, region: str = EU) -> AwsRegionSettings:
    """Region settings naming ``bucket`` and ``key``."""
    return AwsRegionSettings(region, bucket, key, "table", "/broker/audit")  # type: ignore[arg-type]


def spool_file(state: Path, name: str, data: bytes, done: bool = True) -> Path:
    """A finished recording in the eu-central-1 spool."""
    folder = state / "regions" / EU / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.cast"
    path.write_bytes(data)
    if done:
        path.with_name(path.name + DONE).touch()
    return path


@pytest.fixture
def outage(fake_credentials: None) -> Iterator[MotoServer]:
    """A moto server of its own, which a test may stop and start again."""
    server = MotoServer()
    server.start()
    yield server
    server.stop()


class TestUpload:
    """Confirmed uploads to the region's bucket."""

    def test_upload_confirms_then_deletes(self, clients: ClientFactory, tmp_path: Path) -> None:
        """The object is SSE-KMS under the region key with the file's SHA-256; then the
        spool file and its marker are gone."""
        bucket, key = make_bucket(clients, EU)
        events = MemorySink()
        data = os.urandom(50_000)
        path = spool_file(tmp_path, "sess-1", data)
        uploader = RecordingUploader(clients, settings(bucket, key), tmp_path, events, NOW)
        assert uploader.upload_ready() == 1
        head = clients.client("s3", EU).head_object(
            Bucket=bucket, Key="recordings/sess-1.cast", ChecksumMode="ENABLED"
        )
        expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)
        assert head["ChecksumSHA256"] == expected
        assert not path.exists()
        assert not path.with_name("sess-1.cast.done").exists()
        assert events.of("recording.stored")[0]["sha256"] == expected

    def test_only_complete_recordings_upload(self, clients: ClientFactory, tmp_path: Path) -> None:
        """A recording without marker that is still fresh stays in the spool."""
        bucket, key = make_bucket(clients, EU)
        spool_file(tmp_path, "fresh", b"x", done=False)
        spool_file(tmp_path, "done", b"y")
        policy = UploadPolicy(quiet_seconds=3600)
        uploader = RecordingUploader(clients, settings(bucket, key), tmp_path, MemorySink(), policy)
        assert uploader.upload_ready() == 1
        assert [(p.name, p.complete) for p in uploader.pending()] == [("fresh.cast", False)]

    async def test_open_recording_waits_for_its_writer(
        self, clients: ClientFactory, tmp_path: Path
    ) -> None:
        """A recording the real recorder still holds is not uploaded; once closed it is."""
        bucket, key = make_bucket(clients, EU)
        recorder = RecordingStore(tmp_path, EU, FakeClock(T0), min_free_bytes=0).open(session())
        recorder.start("xterm", 80, 24)
        recorder.output(b"hello")
        uploader = RecordingUploader(clients, settings(bucket, key), tmp_path, MemorySink(), NOW)
        assert uploader.upload_ready() == 0
        recorder.close("logout")
        assert uploader.upload_ready() == 1
        body = clients.client("s3", EU).get_object(Bucket=bucket, Key="recordings/sess-1.cast")
        assert b"hello" in body["Body"].read()

    def test_unconfirmed_upload_keeps_file(
        self, clients: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the stored object does not match, the spool file stays."""
        bucket, key = make_bucket(clients, EU)
        path = spool_file(tmp_path, "s", b"abc")
        uploader = RecordingUploader(clients, settings(bucket, key), tmp_path, MemorySink(), NOW)
        original = sha256_b64

        def wrong(p: Path) -> str:
            return original(p)[::-1]

        monkeypatch.setattr("broker.aws.recordings.sha256_b64", wrong)
        with pytest.raises(UnavailableError) as caught:
            uploader.upload_ready()
        assert caught.value.code == "recording_unconfirmed"
        assert path.exists()


class TestBucketRegion:
    """The bucket must be in the uploader's region."""

    @pytest.mark.parametrize("region", [EU, US])
    def test_bucket_region_read(self, clients: ClientFactory, region: str) -> None:
        """``bucket_region`` reports where moto created the bucket."""
        bucket, _ = make_bucket(clients, region)
        assert bucket_region(clients.client("s3", region), bucket) == region

    def test_mismatch_refuses_and_is_audited(self, clients: ClientFactory, tmp_path: Path) -> None:
        """A bucket in us-east-1 configured for eu-central-1: nothing uploads, sessions refused."""
        bucket, key = make_bucket(clients, US)
        events = MemorySink()
        path = spool_file(tmp_path, "s", b"abc")
        uploader = RecordingUploader(clients, settings(bucket, key), tmp_path, events, NOW)
        with pytest.raises(RegionMismatch):
            uploader.upload_ready()
        assert path.exists()
        assert events.of("recordings.region_mismatch")[0]["location"] == US
        with pytest.raises(UnavailableError) as caught:
            uploader.check_can_accept()
        assert caught.value.code == "recordings_region_mismatch"


class TestOutage:
    """S3 unavailable during and after a session: nothing is lost."""

    async def test_outage_then_recovery(self, outage: MotoServer, tmp_path: Path) -> None:
        """Uploads fail while S3 is down (files kept), and all succeed when it returns."""
        clients = ClientFactory({EU: outage.url}, max_attempts=1, connect_timeout=1)
        bucket, key = make_bucket(clients, EU)
        recorder = RecordingStore(tmp_path, EU, FakeClock(T0), min_free_bytes=0).open(session())
        recorder.start("xterm", 80, 24)
        outage.stop()
        recorder.output(b"during the outage")
        recorder.close("logout")
        spool_file(tmp_path, "after", b"second")
        uploader = RecordingUploader(clients, settings(bucket, key), tmp_path, MemorySink(), NOW)
        with pytest.raises(UnavailableError):
            uploader.upload_ready()
        assert [p.name for p in uploader.pending()] == ["after.cast", "sess-1.cast"]
        stop = asyncio.Event()
        runner = asyncio.create_task(uploader.run(stop))
        await asyncio.sleep(0.2)  # a few failing passes back off and retry
        outage.start()
        await _until(lambda: not uploader.pending())
        stop.set()
        await runner
        listed = clients.client("s3", EU).list_objects_v2(Bucket=bucket)["Contents"]
        assert sorted(o["Key"] for o in listed) == [
            "recordings/after.cast",
            "recordings/sess-1.cast",
        ]

    def test_unreachable_storage_refuses_new_sessions(
        self, outage: MotoServer, tmp_path: Path
    ) -> None:
        """After a pass that cannot reach S3, new sessions are refused; after one that can,
        accepted again (lenient mode too: this is no backlog, the storage is away)."""
        clients = ClientFactory({EU: outage.url}, max_attempts=1, connect_timeout=1)
        bucket, key = make_bucket(clients, EU)
        uploader = RecordingUploader(clients, settings(bucket, key), tmp_path, MemorySink(), NOW)
        assert uploader.check_can_accept() is None
        outage.stop()
        with pytest.raises(UnavailableError):
            uploader.upload_ready()
        with pytest.raises(UnavailableError) as caught:
            uploader.check_can_accept()
        assert caught.value.code == "recordings_unreachable"
        outage.start()
        assert uploader.upload_ready() == 0
        assert uploader.check_can_accept() is None

    def test_restart_resumes_from_spool(self, clients: ClientFactory, tmp_path: Path) -> None:
        """A new uploader (a restarted gateway) uploads what an earlier one left."""
        bucket, key = make_bucket(clients, EU)
        spool_file(tmp_path, "left", b"behind")
        first = RecordingUploader(clients, settings(bucket, key), tmp_path, MemorySink(), NOW)
        assert [p.name for p in first.pending()] == ["left.cast"]
        second = RecordingUploader(clients, settings(bucket, key), tmp_path, MemorySink(), NOW)
        assert second.upload_ready() == 1
        assert first.pending() == []


async def _until(condition: object, tries: int = 1500) -> None:
    for _ in range(tries):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


class TestPendingListing:
    """Listing what waits while the uploader deletes what it confirmed."""

    def test_file_uploaded_between_listing_and_stat_is_not_pending(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A recording gone after the folder was listed is skipped, not an error."""
        (tmp_path / "kept.cast").write_bytes(b"{}\n")
        listed = [tmp_path / "gone.cast", tmp_path / "kept.cast"]
        monkeypatch.setattr(recordings, "spooled", lambda _spool: listed)
        assert [p.name for p in recordings.pending_in(tmp_path, 0.0)] == ["kept.cast"]


class TestStrict:
    """``check_can_accept`` in strict mode."""

    def test_backlog_refuses(self, clients: ClientFactory, tmp_path: Path) -> None:
        """More pending recordings than the bound refuses new sessions."""
        for i in range(3):
            spool_file(tmp_path, f"s{i}", b"x")
        policy = UploadPolicy(strict=True, max_pending=2)
        uploader = RecordingUploader(clients, settings("b", "k"), tmp_path, MemorySink(), policy)
        with pytest.raises(UnavailableError) as caught:
            uploader.check_can_accept()
        assert caught.value.code == "spool_backlog"

    def test_unwritable_spool_refuses(self, clients: ClientFactory, tmp_path: Path) -> None:
        """A spool that cannot be created refuses new sessions."""
        (tmp_path / "regions").write_text("not a folder")
        policy = UploadPolicy(strict=True)
        uploader = RecordingUploader(clients, settings("b", "k"), tmp_path, MemorySink(), policy)
        with pytest.raises(UnavailableError) as caught:
            uploader.check_can_accept()
        assert caught.value.code == "spool_unwritable"

    def test_lenient_accepts_backlog(self, clients: ClientFactory, tmp_path: Path) -> None:
        """Without ``strict`` a backlog does not refuse sessions."""
        for i in range(3):
            spool_file(tmp_path, f"s{i}", b"x")
        policy = UploadPolicy(max_pending=1)
        uploader = RecordingUploader(clients, settings("b", "k"), tmp_path, MemorySink(), policy)
        assert uploader.check_can_accept() is None


def uploaded(clients: ClientFactory, state: Path, name: str) -> tuple[RecordingUploader, bytes]:
    """A short real recording of session ``name``, uploaded (and so gone from the spool)."""
    bucket, key = make_bucket(clients, EU)
    recorder = make_store(state).open(make_session(name))
    recorder.start("xterm", 80, 24)
    recorder.output(b"kept in the region\r\n")
    recorder.close("shell_exited")
    original = recorder.path.read_bytes()
    snapshots.load(recorder.path, Region(EU))  # a replay before the upload leaves snapshots
    beside = recorder.path.with_name(recorder.path.name + snapshots.SUFFIX)
    assert beside.is_file()
    uploader = RecordingUploader(clients, settings(bucket, key), state, MemorySink(), NOW)
    uploader.upload(recorder.path)
    assert not recorder.path.exists()
    assert not beside.exists()
    return uploader, original


class TestFetchForReplay:
    """AWS mode: the region's unit reads an uploaded recording back for a replay."""

    def test_replay_reads_the_uploaded_recording_into_the_region(
        self, clients: ClientFactory, tmp_path: Path
    ) -> None:
        """Once uploaded (and gone from the spool), the viewer's recording path is a copy
        read from the region's bucket into the region's own folder, byte for byte, and it
        loads for replay; a session the bucket does not have is not found."""
        uploader, original = uploaded(clients, tmp_path, "s-aws")
        unit = SimpleNamespace(region=EU)  # the viewer's region; nothing else is used here
        viewer = RegionViewer(unit, state_dir=tmp_path, fetch=uploader.fetch)  # type: ignore[arg-type]
        path = viewer.recording_path(SessionId("s-aws"))
        assert path.is_relative_to(tmp_path / "regions" / EU)
        assert path.read_bytes() == original
        assert snapshots.load(path, Region(EU)).duration >= 0
        with pytest.raises(NotFoundError):
            viewer.recording_path(SessionId("s-none"))

    def test_outage_is_unavailable(self, outage: MotoServer, tmp_path: Path) -> None:
        """S3 unreachable: the replay fails closed (503-class), nothing half-written."""
        clients = ClientFactory({EU: outage.url}, max_attempts=1, connect_timeout=1)
        bucket, key = make_bucket(clients, EU)
        uploader = RecordingUploader(clients, settings(bucket, key), tmp_path, MemorySink(), NOW)
        outage.stop()
        dest = tmp_path / "s-x.cast"
        with pytest.raises(UnavailableError):
            uploader.fetch("s-x.cast", dest)
        assert list(tmp_path.iterdir()) == []


class TestLegalHoldInBucket:
    """AWS mode: a hold copy of an uploaded recording stays inside the region's bucket."""

    def test_server_side_copy_under_legal_hold(
        self, clients: ClientFactory, tmp_path: Path
    ) -> None:
        """The copy is ``legal-hold/<hold>/<session>.cast`` in the same bucket, SSE-KMS
        under the region's key, equal bytes; never replaced; an absent recording is None."""
        uploader, original = uploaded(clients, tmp_path, "s-held")
        bucket, key = uploader.settings.bucket, uploader.settings.kms_key_id
        copy = uploader.hold_copy("s-held.cast", "LH-3")
        assert copy is not None
        assert copy.location == f"s3://{bucket}/legal-hold/LH-3/s-held.cast"
        assert (copy.bytes, copy.sha256) == (len(original), hashlib.sha256(original).hexdigest())
        s3 = clients.client("s3", EU)
        held = s3.get_object(Bucket=bucket, Key="legal-hold/LH-3/s-held.cast")
        assert held["Body"].read() == original
        assert (held["ServerSideEncryption"], held["SSEKMSKeyId"]) == ("aws:kms", key)
        with pytest.raises(ConflictError):
            uploader.hold_copy("s-held.cast", "LH-3")
        assert uploader.hold_copy("s-none.cast", "LH-3") is None
        with pytest.raises(InputError):
            uploader.hold_copy("s-held.cast", "..")

    async def test_archive_uses_the_bucket_once_uploaded(
        self, clients: ClientFactory, tmp_path: Path
    ) -> None:
        """The API's legal hold finds the spool empty and copies inside the bucket; audited."""
        uploader, _ = uploaded(clients, tmp_path, "s-arch")
        bucket = uploader.settings.bucket
        events = MemorySink()

        async def get_session(_id: str) -> Any:
            return make_session("s-arch")

        store = SimpleNamespace(get_session=get_session)
        archive = RecordingArchive(
            tmp_path, store, events, frozenset({Region(EU)}), {EU: True},  # type: ignore[arg-type]
            {Region(EU): uploader.hold_copy},
        )  # fmt: skip
        who = Principal("adm-1", "admin", None)  # type: ignore[arg-type]
        copy = await archive.hold(SessionId("s-arch"), "LH-4", who, "127.0.0.1")
        assert copy.location.startswith(f"s3://{bucket}/legal-hold/LH-4/")
        (exported,) = events.of("recording.exported")
        assert (exported["hold"], exported["region"]) == ("LH-4", EU)
        assert not (tmp_path / "regions" / EU / "legal-hold").exists()
