"""``GatedRecorders``: each new recording asks the region's uploader first."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.audit.anchor import StoreAnchor
from broker.aws.clients import ClientFactory
from broker.aws.dynamodb.store import DynamoStore
from broker.aws.recordings import DONE, RecordingUploader, UploadPolicy
from broker.clock import FakeClock, SystemClock
from broker.config.aws import AwsSettings
from broker.errors import InputError, RegionMismatch, UnavailableError
from broker.events import MemorySink
from broker.recording.recorder import RecordingStore
from broker.runtime.aws import GatedRecorders, audit_anchor
from broker.typing import Region
from tests.audit.anchor_contract import MAIN, anchor
from tests.aws.conftest import EU, US, unique
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


class TestAuditAnchor:
    """Which anchor AWS mode uses, from the regions' ``anchor_key_id``."""

    def _settings(self, *keys: str | None, group: str = "/broker/audit") -> AwsSettings:
        regions = {
            region: {"bucket": "b-" + region, "kms_key_id": "alias/k", "table": "broker-store",
                     "log_group": group, **({"anchor_key_id": key} if key else {})}
            for region, key in zip((EU, US), keys, strict=True)
        }  # fmt: skip
        return AwsSettings.from_mapping({"store_region": EU, "regions": regions})

    def test_no_key_anywhere_means_the_store(self, clients: ClientFactory) -> None:
        """Without anchor keys every region's anchors go to the store."""
        store = DynamoStore(clients, EU, "broker-store")
        made = audit_anchor(self._settings(None, None), clients, store, FakeClock(T0))
        assert isinstance(made, StoreAnchor)

    async def test_keyed_regions_are_signed_the_others_stored(self, clients: ClientFactory) -> None:
        """EU has a key (KMS + CloudWatch), US has none, eu-west-2 is not served: the store."""
        store = DynamoStore(clients, EU, unique("broker-store"))
        store.create_table()
        key = clients.client("kms", EU).create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
        group = unique("/broker/audit")
        settings = self._settings(key["KeyMetadata"]["Arn"], None, group=group)
        clients.client("logs", EU).create_log_group(logGroupName=group)
        made = audit_anchor(settings, clients, store, SystemClock())
        for region in (EU, US, Region("eu-west-2")):
            await made.put(anchor(region, 1, 7))
        assert [a.region for a in [await store.latest_anchor(r) for r in (EU, US)] if a] == [US]
        assert await made.latest(EU, MAIN) == anchor(EU, 1, 7)
        assert await made.latest(Region("eu-west-2"), MAIN) == anchor(Region("eu-west-2"), 1, 7)
        await store.close()

    def test_a_malformed_key_id_names_the_field(self) -> None:
        """``anchor_key_id`` is checked like ``kms_key_id``."""
        with pytest.raises(InputError) as refused:
            self._settings("not a key", None)
        assert refused.value.field == f"aws.regions.{EU}.anchor_key_id"
