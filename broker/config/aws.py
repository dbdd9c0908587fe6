"""Per-region AWS settings for ``mode = "aws"``: where each region's resources live.

Every resource a region uses (bucket, KMS key, table, log group, secrets) is
named per region, so nothing of one region can be configured to land in
another. ``from_mapping`` validates a parsed config section and names the
offending field on error, never echoing its value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from broker.errors import InputError
from broker.policy.regions import REGIONS
from broker.state import check_region
from broker.typing import Region

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/\S+|alias/\S+|[0-9a-f-]{36})$"
)
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_LOG_GROUP = re.compile(r"^[A-Za-z0-9_./#-]{1,512}$")
_PREFIX = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,256}$")
_TOPIC = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$")
"""An SNS topic ARN; group 1 is its region (a FIFO topic's ``.fifo`` is refused: one
notification needs no ordering, and FIFO publishing needs a group id)."""
_REGION_FIELDS = (
    "bucket", "kms_key_id", "table", "log_group", "secret_prefix", "endpoint_url",
    "anchor_key_id",
    "notify_topic_arn",
)  # fmt: skip
_TOP_FIELDS = (
    "regions", "store_region", "store_table", "store_endpoint_url", "recordings", "targets",
)  # fmt: skip
TARGET_SOURCES = ("ec2", "inventory")
"""``ec2``: find instances by tags and push a key with EC2 Instance Connect;
``inventory``: the store's host and port with the gateway's own key (tests, demos)."""
_UPLOAD_FIELDS = (
    "strict", "max_pending", "quiet_seconds", "poll_seconds", "max_backoff_seconds",
    "checkpoint_seconds",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    """How the recording uploader behaves (``[aws.recordings]`` in the config).

    ``strict`` makes ``check_can_accept`` refuse new sessions when the spool
    cannot be written or more than ``max_pending`` recordings wait.
    ``backoff`` is (first delay, longest delay) in seconds; the first delay
    is also the pause between passes while uploads succeed.
    ``checkpoint_seconds``: how often a live recording's new lines go to the
    bucket as a part (``broker.aws.checkpoints``), which bounds what a
    replica lost with its disk can lose.
    """

    strict: bool = False
    max_pending: int = 100
    quiet_seconds: float = 30.0
    backoff: tuple[float, float] = (0.5, 60.0)
    checkpoint_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class AwsRegionSettings:
    """One region's resources. ``endpoint_url`` overrides AWS (tests point it at moto)."""

    region: Region
    bucket: str
    kms_key_id: str
    table: str
    log_group: str
    secret_prefix: str = "broker"  # noqa: S105 - a name prefix, not a secret
    endpoint_url: str | None = None
    anchor_key_id: str | None = None
    """The region's asymmetric KMS signing key (ECC_NIST_P256) for audit anchors;
    without it the region's anchors go to the store (``broker.audit.anchor``)."""
    notify_topic_arn: str | None = None
    """The SNS topic of this region that hears of consent requests for its orgs
    (``broker.notify.sns``); it must be a topic in this very region."""


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """Every region's settings, plus the store's home region (its DynamoDB table).

    The store's region may be one of ``regions`` (its table is then that
    region's ``table``) or a control-plane region of its own, named with
    ``store_table`` and, in tests, ``store_endpoint_url``.
    """

    regions: Mapping[Region, AwsRegionSettings] = field(
        default_factory=lambda: MappingProxyType({})
    )
    store_region: Region | None = None
    store_table: str | None = None
    store_endpoint_url: str | None = None
    recordings: UploadPolicy = field(default_factory=UploadPolicy)
    targets: str = "ec2"

    def region(self, region: Region) -> AwsRegionSettings:
        """The settings of ``region``; ``InputError`` when it is not configured (fail closed)."""
        found = self.regions.get(region)
        if found is None:
            raise InputError("aws.regions", "region is not configured for AWS mode")
        return found

    def endpoints(self) -> dict[Region, str]:
        """The endpoint overrides by region (the store's included), for ``ClientFactory``."""
        found = {r: s.endpoint_url for r, s in self.regions.items() if s.endpoint_url}
        if self.store_region is not None and self.store_endpoint_url:
            found[self.store_region] = self.store_endpoint_url
        return found

    def store(self) -> tuple[Region, str]:
        """The store's region and table; ``InputError`` when none is configured."""
        if self.store_region is None:
            raise InputError("aws.store_region", "required in AWS mode")
        table = self.store_table or self.region(self.store_region).table
        return self.store_region, table

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AwsSettings:
        """Parse ``{"store_region": ..., "regions": {"eu-central-1": {...}, ...}}``."""
        _no_unknown(data, _TOP_FIELDS, "aws")
        raw = data.get("regions")
        if not isinstance(raw, Mapping) or not raw:
            raise InputError("aws.regions", "must be a non-empty table of regions")
        regions = {
            _region(str(k), f"aws.regions.{k}"): _region_settings(str(k), v) for k, v in raw.items()
        }
        store_region, table, endpoint = _store(data, regions)
        recordings = _upload_policy(data.get("recordings", {}))
        targets = data.get("targets", "ec2")
        if targets not in TARGET_SOURCES:
            raise InputError("aws.targets", "must be 'ec2' or 'inventory'")
        return cls(MappingProxyType(regions), store_region, table, endpoint, recordings, targets)


def _store(
    data: Mapping[str, Any], regions: Mapping[Region, AwsRegionSettings]
) -> tuple[Region | None, str | None, str | None]:
    """The store's region, and its own table and endpoint when it is no served region."""
    store = data.get("store_region")
    if store is None:
        return None, None, None
    region = _region(_text(store, "aws.store_region"), "aws.store_region")
    own = {k: data[k] for k in ("store_table", "store_endpoint_url") if k in data}
    if region in regions:
        if own:
            raise InputError(f"aws.{next(iter(own))}", "only for a store region of its own")
        return region, None, None
    if "store_table" not in own:
        raise InputError("aws.store_region", "must be a configured region or have store_table")
    table = _match(own, "store_table", _TABLE, "aws")
    endpoint = own.get("store_endpoint_url")
    url = None if endpoint is None else _endpoint(endpoint, "aws.store_endpoint_url")
    return region, table, url


def _upload_policy(data: object) -> UploadPolicy:
    """``[aws.recordings]``: the uploader's policy, each field checked and named."""
    path = "aws.recordings"
    if not isinstance(data, Mapping):
        raise InputError(path, "must be a table")
    _no_unknown(data, _UPLOAD_FIELDS, path)
    default = UploadPolicy()
    strict = data.get("strict", default.strict)
    if not isinstance(strict, bool):
        raise InputError(f"{path}.strict", "must be true or false")
    first, longest = default.backoff
    return UploadPolicy(
        strict=strict,
        max_pending=int(_number(data, "max_pending", default.max_pending, path, minimum=1)),
        quiet_seconds=_number(data, "quiet_seconds", default.quiet_seconds, path, minimum=0),
        checkpoint_seconds=_number(
            data, "checkpoint_seconds", default.checkpoint_seconds, path, minimum=0.1
        ),
        backoff=(
            _number(data, "poll_seconds", first, path, minimum=0.01),
            _number(data, "max_backoff_seconds", longest, path, minimum=0.01),
        ),
    )


def _number(
    data: Mapping[str, Any], key: str, default: float, path: str, *, minimum: float
) -> float:
    """A number of at least ``minimum`` (``max_pending`` must be whole), else ``InputError``."""
    value = data.get(key, default)
    whole = key != "max_pending" or isinstance(value, int)
    if isinstance(value, bool) or not isinstance(value, int | float) or not whole:
        raise InputError(f"{path}.{key}", "must be a number")
    if value < minimum:
        raise InputError(f"{path}.{key}", f"must be at least {minimum}")
    return float(value)


def _region(value: str, path: str) -> Region:
    """A known AWS region code, else ``InputError`` naming ``path``."""
    try:
        region = check_region(value)
    except InputError as error:
        raise InputError(path, "not an AWS region code") from error
    if region not in REGIONS:
        raise InputError(path, "not a known AWS region")
    return region


def _region_settings(name: str, data: object) -> AwsRegionSettings:
    """Validate one region's table, naming ``aws.regions.<region>.<field>``."""
    path = f"aws.regions.{name}"
    if not isinstance(data, Mapping):
        raise InputError(path, "must be a table")
    _no_unknown(data, _REGION_FIELDS, path)
    endpoint = data.get("endpoint_url")
    return AwsRegionSettings(
        region=_region(name, path),
        bucket=_match(data, "bucket", _BUCKET, path),
        kms_key_id=_match(data, "kms_key_id", _KMS, path),
        table=_match(data, "table", _TABLE, path),
        log_group=_match(data, "log_group", _LOG_GROUP, path),
        secret_prefix=_match({"secret_prefix": "broker", **data}, "secret_prefix", _PREFIX, path),
        endpoint_url=None if endpoint is None else _endpoint(endpoint, f"{path}.endpoint_url"),
        anchor_key_id=_match(data, "anchor_key_id", _KMS, path)
        if "anchor_key_id" in data
        else None,
        notify_topic_arn=_topic(data, name, path),
    )


def _topic(data: Mapping[str, Any], region: str, path: str) -> str | None:
    """The region's SNS topic ARN, if any; one in another region is refused."""
    if "notify_topic_arn" not in data:
        return None
    arn = _match(data, "notify_topic_arn", _TOPIC, path)
    if arn.split(":")[3] != region:
        raise InputError(f"{path}.notify_topic_arn", "must be a topic in this region")
    return arn


def _no_unknown(data: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in data:
        if key not in allowed:
            raise InputError(f"{path}.{key}", "unknown setting")


def _text(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(path, "must be a non-empty string")
    return value


def _match(data: Mapping[str, Any], key: str, pattern: re.Pattern[str], path: str) -> str:
    value = _text(data.get(key), f"{path}.{key}")
    if not pattern.fullmatch(value):
        raise InputError(f"{path}.{key}", "is not a valid value for this setting")
    return value


def _endpoint(value: object, path: str) -> str:
    """An http(s) URL; plain http is allowed only to loopback (moto in tests)."""
    text = _text(value, path)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(path, "must be an http(s) URL")
    if parts.scheme == "http" and not _never_routed(parts.hostname):
        raise InputError(path, "plain http only to a loopback or documentation address")
    return text


_DOCUMENTATION = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
"""RFC 5737's ranges: never routed on the internet. The residency tests give the
moto servers in their network namespaces these addresses, and the capture of
plain HTTP there is what shows where the bytes went."""


def _never_routed(host: str) -> bool:
    """Loopback, or an RFC 5737 address: plain http there never leaves the machine's lab."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or any(address in net for net in _DOCUMENTATION)
