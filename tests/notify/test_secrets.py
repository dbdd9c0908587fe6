"""Named webhook secrets (AWS mode): read from the org's region's Secrets Manager only."""

from __future__ import annotations

import json

import pytest

from broker.aws.clients import ClientFactory
from broker.aws.secrets import RegionalSecrets
from broker.config import aws_settings, config_from_mapping
from broker.config.notify import WebhookSettings
from broker.errors import InputError, UnavailableError
from broker.notify.build import build_notifier
from broker.notify.secrets import WebhookSecrets
from broker.notify.signature import HEADER, verify
from broker.typing import OrgId, Region
from tests.aws.conftest import unique
from tests.aws.moto_server import MotoServer
from tests.notify.conftest import AWS_REGION, SECRET, announce

EU, US = Region("eu-central-1"), Region("us-east-1")


def aws_config(moto: MotoServer, prefix: str, hook: dict[str, str]):
    region = {**AWS_REGION, "endpoint_url": moto.url, "secret_prefix": prefix}
    return config_from_mapping(
        {
            "mode": "aws",
            "regions": [EU, US],
            "aws": {"store_region": EU, "regions": {EU: region, US: {**region, "bucket": "u-1"}}},
            "notify": {"webhooks": {"acme-de": hook}},
        }
    )


class TestNamedSecret:
    """``secret_name``: the secret of the notice's region, fetched when signing."""

    async def test_a_delivery_is_signed_with_the_regions_secret(self, moto, receiver, trail, clock):
        """AWS mode, HTTPS receiver: signed with the secret stored in eu-central-1."""
        prefix = unique("p")
        hook = {
            "url": receiver.url,
            "secret_name": "acme-de-hook",
            "ca_file": str(receiver.ca_file),
        }
        config = aws_config(moto, prefix, hook)
        settings = aws_settings(config)
        clients = ClientFactory(settings.endpoints())
        keys = RegionalSecrets(clients, settings.regions)
        await keys.put(EU, "acme-de-hook", SECRET)
        notifier = build_notifier(config, trail, clock, clients=clients, keys=keys)
        mark = moto.mark()
        await announce(notifier)
        [got] = receiver.received
        assert verify(SECRET, got.headers[HEADER], got.body, clock.now().timestamp())
        assert json.loads(got.body)["region"] == EU
        assert {s.region for s in moto.since(mark)} == {EU}

    async def test_another_regions_secret_is_never_read(self, moto, clock):
        """Stored only in us-east-1, a eu-central-1 notice finds none (fail closed)."""
        prefix = unique("p")
        hook = {"url": "https://x.example/", "secret_name": "acme-de-hook"}
        settings = aws_settings(aws_config(moto, prefix, hook))
        keys = RegionalSecrets(ClientFactory(settings.endpoints()), settings.regions)
        await keys.put(US, "acme-de-hook", SECRET)
        named = WebhookSettings(OrgId("acme-de"), hook["url"], secret_name="acme-de-hook")
        secrets = WebhookSecrets({}, keys)
        assert await secrets.get(named, US) == SECRET
        with pytest.raises(UnavailableError) as caught:
            await secrets.get(named, EU)
        assert caught.value.code == "secret_missing"

    def test_a_named_secret_without_aws_is_refused(self):
        """Without a key store (local mode) a named secret cannot be loaded: the field is named."""
        hook = WebhookSettings(OrgId("acme-de"), "https://x.example/", secret_name="n")
        with pytest.raises(InputError) as caught:
            WebhookSecrets.load({OrgId("acme-de"): hook}, None)
        assert caught.value.field == "notify.webhooks.acme-de.secret_name"
