"""Notification settings (``[notify]`` in the config file): per-org webhooks and delivery.

Only the shape is checked here, when the file is loaded; the secret itself is
read when the runtime builds the notifier (``broker.notify.build``), so a
config file can be validated on a machine that holds no secrets. Every error
names its field and never echoes a value (a URL may carry a token).

Decisions:

* ``https`` only. Plain ``http`` is allowed to a loopback address alone, and
  only when ``allow_http_loopback = true`` (local mode: tests and demos).
* A URL with user info (``https://user:pass@...``) is refused: credentials
  belong in the signing secret, and URLs end up in proxies' logs.
* The signing secret comes from ``secret_file`` (any mode) or, in AWS mode,
  ``secret_name``: a binary secret in the org's region's Secrets Manager,
  next to the region's CA keys. Exactly one of the two.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from broker.config.aws import _no_unknown, _text
from broker.errors import InputError
from broker.keys import check_name
from broker.typing import OrgId
from broker.validate import identifier

_WEBHOOK_FIELDS = ("url", "secret_file", "secret_name", "ca_file")
_NUMBERS: Mapping[str, tuple[float, float]] = {
    "max_attempts": (1, 50),
    "first_delay_seconds": (0.01, 3600),
    "max_delay_seconds": (0.01, 86400),
    "give_up_after_seconds": (1, 86400),
    "timeout_seconds": (0.1, 300),
    "max_pending": (1, 100_000),
    "drain_seconds": (0, 300),
}
"""Each delivery setting's bounds, inclusive."""
_TOP_FIELDS = ("allow_http_loopback", "webhooks", *_NUMBERS)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard a notification is pushed (the same for every channel).

    Attempt ``n`` failing with a retryable outcome waits a random time in
    ``[0, min(max_delay, first_delay * 2**(n-1))]`` ("full jitter"), or what
    the receiver's ``Retry-After`` asks, and gives up after ``max_attempts``
    or once the next try would start after ``give_up_after_seconds``.
    ``max_pending`` bounds the deliveries held in memory; at shutdown those
    still running get ``drain_seconds`` to finish, then are cancelled and
    audited as failed (``reason: shutdown``).
    """

    max_attempts: int = 8
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 300.0
    give_up_after_seconds: float = 1800.0
    timeout_seconds: float = 10.0
    max_pending: int = 1000
    drain_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """One org's webhook: where to POST and where its signing secret lives."""

    org_id: OrgId
    url: str
    secret_file: Path | None = None
    secret_name: str | None = None
    ca_file: Path | None = None
    """Extra CA certificates (PEM) to trust for this URL: a private CA, or a test's."""


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """Every org's webhook and the delivery policy."""

    webhooks: Mapping[OrgId, WebhookSettings] = field(default_factory=lambda: MappingProxyType({}))
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    allow_http_loopback: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, aws: bool) -> NotifySettings:
        """Parse the ``[notify]`` table; ``aws``: the broker runs in AWS mode."""
        _no_unknown(data, _TOP_FIELDS, "notify")
        insecure = data.get("allow_http_loopback", False)
        if not isinstance(insecure, bool):
            raise InputError("notify.allow_http_loopback", "must be true or false")
        if insecure and aws:
            raise InputError("notify.allow_http_loopback", "only in local mode")
        raw = data.get("webhooks", {})
        if not isinstance(raw, Mapping):
            raise InputError("notify.webhooks", "must be a table of orgs")
        hooks = {
            OrgId(identifier(org, f"notify.webhooks.{org}")): _webhook(
                str(org), value, insecure=insecure, aws=aws
            )
            for org, value in raw.items()
        }
        return cls(MappingProxyType(hooks), _delivery(data), insecure)


def _delivery(data: Mapping[str, Any]) -> DeliveryPolicy:
    """The delivery numbers, each within its bounds."""
    values: dict[str, Any] = {}
    for key, (low, high) in _NUMBERS.items():
        if key not in data:
            continue
        value = data[key]
        whole = key in ("max_attempts", "max_pending")
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise InputError(f"notify.{key}", "must be a whole number" if whole else "a number")
        if not low <= value <= high:
            raise InputError(f"notify.{key}", f"must be between {low:g} and {high:g}")
        values[key] = value if whole else float(value)
    return DeliveryPolicy(**values)


def _webhook(org: str, data: object, *, insecure: bool, aws: bool) -> WebhookSettings:
    """One ``[notify.webhooks.<org>]`` table."""
    path = f"notify.webhooks.{org}"
    if not isinstance(data, Mapping):
        raise InputError(path, "must be a table")
    _no_unknown(data, _WEBHOOK_FIELDS, path)
    url = webhook_url(data.get("url"), f"{path}.url", allow_http_loopback=insecure)
    file, name = data.get("secret_file"), data.get("secret_name")
    if (file is None) == (name is None):
        raise InputError(f"{path}.secret_file", "exactly one of secret_file or secret_name")
    if name is not None and not aws:
        raise InputError(f"{path}.secret_name", "only in AWS mode; use secret_file")
    return WebhookSettings(
        org_id=OrgId(org),
        url=url,
        secret_file=None if file is None else Path(_text(file, f"{path}.secret_file")),
        secret_name=None if name is None else _secret_name(name, f"{path}.secret_name"),
        ca_file=_optional_path(data.get("ca_file"), f"{path}.ca_file"),
    )


def webhook_url(value: object, path: str, *, allow_http_loopback: bool) -> str:
    """An ``https`` URL (or loopback ``http`` when allowed), without user info."""
    text = _text(value, path)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - reading it raises ValueError on a bad port
    except ValueError as error:
        raise InputError(path, "is not a valid URL") from error
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError(path, "must be an https URL")
    if parts.username is not None or parts.password is not None:
        raise InputError(path, "must not carry credentials (user info)")
    if parts.scheme == "http" and not (allow_http_loopback and _loopback(parts.hostname)):
        raise InputError(
            path, "must be https (plain http: loopback only, with notify.allow_http_loopback)"
        )
    return text


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _secret_name(value: object, path: str) -> str:
    try:
        return check_name(_text(value, path))
    except InputError as error:
        raise InputError(path, "must be 1-64 of [a-z0-9_.-]") from error


def _optional_path(value: object, path: str) -> Path | None:
    return None if value is None else Path(_text(value, path))
