"""``GatedRecorders``: each new recording asks the region's uploader first."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.aws.clients import ClientFactory
from broker.aws.recordings import DONE, RecordingUploader, UploadPolicy
from broker.clock import FakeClock
from broker.errors import RegionMismatch, UnavailableError
from broker.events import MemorySink
from broker.recording.recorder import RecordingStore
from broker.runtime.aws import GatedRecorders
from tests.aws.conftest import EU, US
from tests.aws.test_recordings import make_bucket, settings
from tests.store.world import T0, session


def gated(clients: ClientFactory, tmp_path: Path, bucket_region: str) -> GatedRecorders:
    """The eu-central-1 spool, gated by an uploader whose bucket is in ``bucket_region``."""
    bucket, key = make_bucket(clients, bucket_region)
    uploader = RecordingUploader(
        clients, settings(bucket, key), tmp_path, MemorySink(), UploadPolicy()
    )
    return GatedRecorders(uploader, RecordingStore(tmp_path, EU, FakeClock(T0)))


class TestGatedRecorders:
    """The gate in front of the region's recorder factory."""

    def test_admitted_bucket_records(self, clients: ClientFactory, tmp_path: Path) -> None:
        """With the bucket in the region, the recording opens; closing it marks it done (0600)."""
        factory = gated(clients, tmp_path, EU)
        factory.uploader.check_bucket()
        recorder = factory(session())
        recorder.close("test")
        path = tmp_path / "regions" / EU / "recordings" / f"{session().id}.cast"
        assert path.exists()
        assert path.with_name(path.name + DONE).stat().st_mode & 0o777 == 0o600

    def test_bucket_found_elsewhere_refuses(self, clients: ClientFactory, tmp_path: Path) -> None:
        """Once the bucket is seen in another region, new sessions get no recorder."""
        factory = gated(clients, tmp_path, US)
        with pytest.raises(RegionMismatch):
            factory.uploader.check_bucket()
        with pytest.raises(UnavailableError):
            factory(session())
        assert not (tmp_path / "regions" / EU / "recordings").exists()
