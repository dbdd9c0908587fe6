"""``[notify]`` and ``notify_topic_arn``: every bad value is an error naming its field."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from broker.config import config_from_mapping, notify_settings
from broker.config.notify import DeliveryPolicy
from broker.errors import InputError
from broker.notify.build import build_notifier
from broker.notify.secrets import read_secret_file
from tests.notify.conftest import AWS_REGION, SECRET

EU, US = "eu-central-1", "us-east-1"
HOOK = {"url": "https://hooks.example.com/broker", "secret_file": "/etc/broker/acme-de.key"}
TOPIC = "arn:aws:sns:eu-central-1:123456789012:consent-requests"


def local(**notify: Any) -> dict[str, Any]:
    return {"notify": {"webhooks": {"acme-de": HOOK}, **notify}}


def aws(region: dict[str, Any], **notify: Any) -> dict[str, Any]:
    """AWS mode serving eu-central-1 with ``region``'s extra settings."""
    return {
        "mode": "aws",
        "regions": [EU],
        "aws": {"store_region": EU, "regions": {EU: {**AWS_REGION, **region}}},
        "notify": notify,
    }


def hook(**change: Any) -> dict[str, Any]:
    return local(webhooks={"acme-de": {**HOOK, **change}})


class TestValid:
    """What a good file gives."""

    def test_a_toml_file_parses_to_settings(self):
        """The documented TOML shape: one webhook, the delivery numbers, defaults elsewhere."""
        text = """
            [notify]
            max_attempts = 5
            give_up_after_seconds = 600
            [notify.webhooks.acme-de]
            url = "https://hooks.example.com/broker"
            secret_file = "/etc/broker/acme-de.key"
            ca_file = "/etc/broker/private-ca.pem"
        """
        settings = notify_settings(config_from_mapping(tomllib.loads(text)))
        webhook = settings.webhooks["acme-de"]
        assert (webhook.url, str(webhook.ca_file)) == (HOOK["url"], "/etc/broker/private-ca.pem")
        assert settings.delivery.max_attempts == 5
        assert settings.delivery.give_up_after_seconds == 600.0
        assert settings.delivery.first_delay_seconds == DeliveryPolicy().first_delay_seconds
        assert settings.allow_http_loopback is False

    def test_no_notify_table_means_no_channels(self):
        """The embedded defaults notify nobody."""
        assert notify_settings(config_from_mapping({})).webhooks == {}

    def test_a_topic_in_its_own_region_parses(self):
        """A region's topic ARN in that region is kept."""
        config = config_from_mapping(aws({"notify_topic_arn": TOPIC}))
        assert config.aws["regions"][EU]["notify_topic_arn"] == TOPIC


class TestRefused:
    """Each mistake names its field and never echoes the value."""

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            (local(colour="red"), "notify.colour"),
            (local(webhooks=[]), "notify.webhooks"),
            (local(webhooks={"acme de": HOOK}), "notify.webhooks.acme de"),
            (local(webhooks={"acme-de": "https://x"}), "notify.webhooks.acme-de"),
            (hook(colour=1), "notify.webhooks.acme-de.colour"),
            (hook(url=None), "notify.webhooks.acme-de.url"),
            (hook(url="ftp://hooks.example.com/x"), "notify.webhooks.acme-de.url"),
            (hook(url="http://hooks.example.com/x"), "notify.webhooks.acme-de.url"),
            (hook(url="http://127.0.0.1:8080/x"), "notify.webhooks.acme-de.url"),
            (hook(url="https://user:tok@hooks.example.com/"), "notify.webhooks.acme-de.url"),
            (hook(url="https://hooks.example.com:99999/"), "notify.webhooks.acme-de.url"),
            (hook(secret_file=None), "notify.webhooks.acme-de.secret_file"),
            (hook(secret_name="acme"), "notify.webhooks.acme-de.secret_file"),
            (hook(secret_file=None, secret_name="acme"), "notify.webhooks.acme-de.secret_name"),
            (hook(ca_file=""), "notify.webhooks.acme-de.ca_file"),
            (local(allow_http_loopback="yes"), "notify.allow_http_loopback"),
            (local(max_attempts=0), "notify.max_attempts"),
            (local(max_attempts=2.5), "notify.max_attempts"),
            (local(max_pending=True), "notify.max_pending"),
            (local(timeout_seconds="10"), "notify.timeout_seconds"),
            (local(drain_seconds=-1), "notify.drain_seconds"),
            (aws({}, allow_http_loopback=True), "notify.allow_http_loopback"),
        ],
    )
    def test_the_error_names_the_field(self, data, field):
        """The error's field is the offending key's full path."""
        with pytest.raises(InputError) as caught:
            config_from_mapping(data)
        assert caught.value.field == field
        assert "tok" not in str(caught.value)

    @pytest.mark.parametrize(
        "arn",
        [
            "arn:aws:sns:us-east-1:123456789012:consent-requests",
            "arn:aws:sns:eu-central-1:1234:consent-requests",
            "arn:aws:sqs:eu-central-1:123456789012:consent-requests",
            "arn:aws:sns:eu-central-1:123456789012:requests.fifo",
        ],
        ids=["other-region", "bad-account", "not-sns", "fifo"],
    )
    def test_a_topic_outside_its_region_or_malformed_is_refused(self, arn):
        """A topic in another region cannot be configured: the org's notice stays in region."""
        with pytest.raises(InputError) as caught:
            config_from_mapping(aws({"notify_topic_arn": arn}))
        assert caught.value.field == f"aws.regions.{EU}.notify_topic_arn"

    def test_plain_http_to_loopback_needs_the_flag(self):
        """With ``allow_http_loopback`` the loopback http URL is accepted (dev mode)."""
        data = hook(url="http://127.0.0.1:8080/x")
        data["notify"]["allow_http_loopback"] = True
        assert notify_settings(config_from_mapping(data)).allow_http_loopback


class TestSecretFile:
    """The secret file is read at start; a bad one stops the broker, naming the field."""

    @pytest.mark.parametrize(
        ("content", "mode", "says"),
        [
            (SECRET, 0o644, "group or others"),
            (b"short\n", 0o600, "at least 32 bytes"),
            (None, 0o600, "cannot read"),
        ],
        ids=["world-readable", "short", "missing"],
    )
    def test_an_unusable_file_is_refused_at_build(self, tmp_path, content, mode, says):
        """``build_notifier`` refuses it with an error naming ``...secret_file``."""
        path = tmp_path / "key"
        if content is not None:
            path.write_bytes(content)
            path.chmod(mode)
        config = config_from_mapping(hook(secret_file=str(path)))
        with pytest.raises(InputError, match=says) as caught:
            build_notifier(config, None, None)
        assert caught.value.field == "notify.webhooks.acme-de.secret_file"

    def test_the_trailing_newline_is_not_part_of_the_secret(self, tmp_path):
        """``openssl rand -hex 32 > file`` gives the 64 characters, not a 65th newline."""
        path = tmp_path / "key"
        path.write_bytes(SECRET + b"\n")
        path.chmod(0o600)
        assert read_secret_file(path, "f") == SECRET
