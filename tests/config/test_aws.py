"""``AwsSettings.from_mapping``: per-region resources, validated field by field."""

from __future__ import annotations

from typing import Any

import pytest

from broker.config.aws import AwsRegionSettings, AwsSettings, UploadPolicy
from broker.errors import InputError
from tests.aws.conftest import EU, US

GOOD: dict[str, Any] = {
    "store_region": "eu-central-1",
    "regions": {
        "eu-central-1": {
            "bucket": "acme-recordings-eu",
            "kms_key_id": "alias/broker-eu",
            "table": "broker",
            "log_group": "/broker/audit",
            "endpoint_url": "http://127.0.0.1:5000",
        },
        "us-east-1": {
            "bucket": "acme-recordings-us",
            "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/abcd",
            "table": "broker",
            "log_group": "/broker/audit",
            "secret_prefix": "acme/broker",
        },
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """GOOD with one nested value replaced (``None`` deletes it)."""
    import copy

    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return data


class TestAwsSettings:
    """Parsing and validation."""

    def test_parses(self) -> None:
        """Every field lands in its region's settings; defaults fill the rest."""
        parsed = AwsSettings.from_mapping(GOOD)
        assert parsed.store_region == EU
        assert parsed.region(EU) == AwsRegionSettings(
            EU,
            "acme-recordings-eu",
            "alias/broker-eu",
            "broker",
            "/broker/audit",
            "broker",
            "http://127.0.0.1:5000",
        )
        assert parsed.region(US).secret_prefix == "acme/broker"
        assert parsed.endpoints() == {EU: "http://127.0.0.1:5000"}

    @pytest.mark.parametrize(
        ("path", "value", "field"),
        [
            ("regions", {}, "aws.regions"),
            ("extra", 1, "aws.extra"),
            ("store_region", "us-west-2", "aws.store_region"),
            ("regions.mars-north-1", GOOD["regions"]["us-east-1"], "aws.regions.mars-north-1"),
            ("regions.eu-central-1.bucket", "Bad_Bucket", "aws.regions.eu-central-1.bucket"),
            ("regions.eu-central-1.bucket", None, "aws.regions.eu-central-1.bucket"),
            ("regions.eu-central-1.kms_key_id", "nope", "aws.regions.eu-central-1.kms_key_id"),
            ("regions.eu-central-1.table", "x", "aws.regions.eu-central-1.table"),
            ("regions.eu-central-1.color", "red", "aws.regions.eu-central-1.color"),
            (
                "regions.eu-central-1.endpoint_url",
                "http://moto.example.com",
                "aws.regions.eu-central-1.endpoint_url",
            ),
            (
                "regions.eu-central-1.endpoint_url",
                "ftp://x",
                "aws.regions.eu-central-1.endpoint_url",
            ),
            (
                "regions.eu-central-1.endpoint_url",
                "http://192.0.3.1:4566",
                "aws.regions.eu-central-1.endpoint_url",
            ),
            (
                "regions.eu-central-1.endpoint_url",
                "http://10.0.0.1:4566",
                "aws.regions.eu-central-1.endpoint_url",
            ),
        ],
    )
    def test_bad_field_named(self, path: str, value: Any, field: str) -> None:
        """Each bad value is an ``InputError`` naming its field, never echoing the value."""
        with pytest.raises(InputError) as caught:
            AwsSettings.from_mapping(_with(path, value))
        assert caught.value.field == field
        if isinstance(value, str):
            assert value not in caught.value.reason

    @pytest.mark.parametrize(
        "url",
        ["http://127.0.0.1:5000", "http://localhost:5000", "http://192.0.2.9:4566",
         "http://198.51.100.1:4566", "http://203.0.113.200:4566", "https://moto.example.com"],
    )  # fmt: skip
    def test_plain_http_to_never_routed_addresses(self, url: str) -> None:
        """Plain http is allowed to loopback and RFC 5737 addresses (the residency lab) only."""
        parsed = AwsSettings.from_mapping(_with("regions.eu-central-1.endpoint_url", url))
        assert parsed.region(EU).endpoint_url == url

    def test_unconfigured_region_fails_closed(self) -> None:
        """Asking for a region without settings is refused."""
        with pytest.raises(InputError):
            AwsSettings.from_mapping(GOOD).region("eu-west-1")  # type: ignore[arg-type]


class TestStoreAndRecordings:
    """The store's own control region and the ``[aws.recordings]`` policy."""

    def test_store_in_served_region_uses_its_table(self) -> None:
        """A served store region has no table of its own: it is that region's."""
        assert AwsSettings.from_mapping(GOOD).store() == (EU, "broker")

    @pytest.mark.parametrize(
        ("extra", "field"),
        [
            ({"store_table": "other"}, "aws.store_table"),
            ({"store_region": "eu-west-1"}, "aws.store_region"),
            ({"store_region": "eu-west-1", "store_table": "x"}, "aws.store_table"),
            (
                {"store_region": "eu-west-1", "store_table": "t-1", "store_endpoint_url": "ftp://"},
                "aws.store_endpoint_url",
            ),
            ({"recordings": {"strict": "yes"}}, "aws.recordings.strict"),
            ({"recordings": {"max_pending": 0}}, "aws.recordings.max_pending"),
            ({"recordings": {"max_pending": 1.5}}, "aws.recordings.max_pending"),
            ({"recordings": {"quiet_seconds": -1}}, "aws.recordings.quiet_seconds"),
            ({"recordings": {"poll_seconds": True}}, "aws.recordings.poll_seconds"),
            ({"recordings": {"checkpoint_seconds": 0}}, "aws.recordings.checkpoint_seconds"),
            ({"recordings": {"burst": 1}}, "aws.recordings.burst"),
            ({"recordings": []}, "aws.recordings"),
        ],
    )
    def test_bad_store_or_recordings_named(self, extra: dict[str, Any], field: str) -> None:
        """Each bad store or upload setting is an ``InputError`` naming it."""
        with pytest.raises(InputError) as caught:
            AwsSettings.from_mapping({**GOOD, **extra})
        assert caught.value.field == field

    def test_recordings_policy(self) -> None:
        """``[aws.recordings]`` becomes the uploader's policy; defaults fill the rest."""
        parsed = AwsSettings.from_mapping(
            {**GOOD, "recordings": {"strict": True, "max_pending": 7, "poll_seconds": 0.2,
                                    "checkpoint_seconds": 2}}
        )  # fmt: skip
        assert parsed.recordings == UploadPolicy(
            strict=True, max_pending=7, quiet_seconds=30.0, backoff=(0.2, 60.0),
            checkpoint_seconds=2.0,
        )  # fmt: skip
        assert AwsSettings.from_mapping(GOOD).recordings == UploadPolicy()
