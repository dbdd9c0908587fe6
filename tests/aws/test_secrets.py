"""The KeyStore contract, shared by LocalKeyStore and SecretsManagerKeyStore."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from broker.aws.clients import ClientFactory
from broker.aws.secrets import RegionalSecrets, SecretsManagerKeyStore, homes_elsewhere
from broker.config.aws import AwsRegionSettings
from broker.errors import InputError, RegionMismatch, UnavailableError
from broker.gateway.keys import region_gateway_keys
from broker.keys import KeyStore, LocalKeyStore, get_or_create
from tests.aws.conftest import EU, US, unique
from tests.aws.moto_server import MotoServer

Factory = Callable[[], KeyStore]


@pytest.fixture(params=["local", "secretsmanager"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    """Builds stores that share one backing place (a folder, or a secret prefix)."""
    if request.param == "local":
        return lambda: LocalKeyStore(tmp_path)
    clients: ClientFactory = request.getfixturevalue("clients")
    prefix = unique("broker-test")
    return lambda: SecretsManagerKeyStore(clients, prefix)


class TestKeyStoreContract:
    """Create-only secrets by (region, name), for every implementation."""

    async def test_absent_is_none(self, make_store: Factory) -> None:
        """A name never written reads as None."""
        assert await make_store().get(EU, "ca") is None

    async def test_put_then_get(self, make_store: Factory) -> None:
        """A put secret reads back byte for byte, also through another instance."""
        secret = bytes(range(256))
        assert await make_store().put(EU, "ca", secret) == secret
        assert await make_store().get(EU, "ca") == secret

    async def test_put_never_overwrites(self, make_store: Factory) -> None:
        """A second put returns the first secret."""
        store = make_store()
        await store.put(EU, "ca", b"first")
        assert await store.put(EU, "ca", b"second") == b"first"
        assert await make_store().get(EU, "ca") == b"first"

    async def test_regions_are_separate(self, make_store: Factory) -> None:
        """One name in two regions is two secrets."""
        store = make_store()
        await store.put(EU, "ca", b"de")
        await store.put(US, "ca", b"us")
        assert (await store.get(EU, "ca"), await store.get(US, "ca")) == (b"de", b"us")

    async def test_racing_creators_agree(self, make_store: Factory) -> None:
        """Concurrent creators all end up with one and the same secret."""
        stores = [make_store() for _ in range(6)]
        results = await asyncio.gather(
            *(s.put(EU, "ca", f"c-{i}".encode()) for i, s in enumerate(stores))
        )
        assert len(set(results)) == 1

    async def test_get_or_create(self, make_store: Factory) -> None:
        """``get_or_create`` makes the secret once."""
        calls: list[int] = []

        def make() -> bytes:
            calls.append(1)
            return b"made"

        store = make_store()
        assert await get_or_create(store, EU, "ca", make) == b"made"
        assert await get_or_create(store, EU, "ca", make) == b"made"
        assert calls == [1]

    @pytest.mark.parametrize(("region", "name"), [("eu-central-1", "../x"), ("../../", "ca")])
    async def test_bad_names_refused(self, make_store: Factory, region: str, name: str) -> None:
        """Unsafe regions or names are input errors."""
        with pytest.raises(InputError):
            await make_store().put(region, name, b"x")  # type: ignore[arg-type]


class TestSecretsManagerKeyStore:
    """What only the Secrets Manager store has."""

    async def test_secret_lands_in_its_region_only(
        self, clients: ClientFactory, moto_eu: MotoServer, moto_us: MotoServer
    ) -> None:
        """An eu-central-1 secret is created via the eu endpoint, under the region's name."""
        prefix = unique("pin")
        store = SecretsManagerKeyStore(clients, prefix)
        us_mark = moto_us.mark()
        await store.put(EU, "ca", b"k")
        assert moto_us.since(us_mark) == []
        assert clients.regions_built() == {EU}
        listed = clients.client("secretsmanager", EU).describe_secret(SecretId=f"{prefix}/{EU}/ca")
        assert listed["Name"] == f"{prefix}/eu-central-1/ca"

    async def test_text_secret_is_refused(self, clients: ClientFactory) -> None:
        """A secret stored as text (not by the broker) fails closed."""
        prefix = unique("text")
        clients.client("secretsmanager", EU).create_secret(
            Name=f"{prefix}/{EU}/ca", SecretString="hello"
        )
        with pytest.raises(UnavailableError) as caught:
            await SecretsManagerKeyStore(clients, prefix).get(EU, "ca")
        assert caught.value.code == "key_invalid"

    async def test_unreachable_is_unavailable(self) -> None:
        """A closed endpoint raises ``UnavailableError`` (fail closed)."""
        dead = ClientFactory({EU: "http://127.0.0.1:9"}, max_attempts=1, connect_timeout=1)
        with pytest.raises(UnavailableError) as caught:
            await SecretsManagerKeyStore(dead).get(EU, "ca")
        assert caught.value.status == 503


ARN = "arn:aws:secretsmanager:{}:123456789012:secret:b/eu-central-1/ca-AbCdEf"
KEY = "arn:aws:kms:{}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


class TestHomesElsewhere:
    """Which other regions a ``DescribeSecret`` answer says hold the secret or its key."""

    @pytest.mark.parametrize(
        ("described", "elsewhere"),
        [
            ({"ARN": ARN.format(EU)}, []),
            ({"ARN": ARN.format(EU), "KmsKeyId": KEY.format(EU)}, []),
            ({"ARN": ARN.format(EU), "KmsKeyId": "alias/broker"}, []),
            ({"ARN": ARN.format(US)}, [US]),
            ({"ARN": ARN.format(EU), "PrimaryRegion": US}, [US]),
            ({"ARN": ARN.format(EU), "PrimaryRegion": EU}, []),
            ({"ARN": ARN.format(EU), "KmsKeyId": KEY.format(US)}, [US]),
            (
                {
                    "ARN": ARN.format(EU),
                    "ReplicationStatus": [{"Region": "eu-west-1"}, {"Region": US}],
                },
                ["eu-west-1", US],
            ),
        ],
    )
    def test_rule_table(self, described: dict[str, Any], elsewhere: list[str]) -> None:
        """The secret's ARN, its primary, its replicas and an ARN-named KMS key all count."""
        assert homes_elsewhere(described, EU) == elsewhere


class TestCheckHome:
    """A unit starts only on secrets that live in its region alone (moto)."""

    async def test_unmade_and_plain_secrets_pass(self, clients: ClientFactory) -> None:
        """No secret yet (it will be made here) and a secret made here both pass."""
        store = SecretsManagerKeyStore(clients, unique("home"))
        await store.check_home(EU, "ca")
        await store.put(EU, "ca", b"k")
        await store.check_home(EU, "ca")

    async def test_replica_elsewhere_is_refused(self, clients: ClientFactory) -> None:
        """A secret replicated to us-east-1 is refused, naming the secret and the region."""
        prefix = unique("replicated")
        clients.client("secretsmanager", EU).create_secret(
            Name=f"{prefix}/{EU}/ca", SecretBinary=b"k", AddReplicaRegions=[{"Region": US}]
        )
        with pytest.raises(RegionMismatch) as caught:
            await SecretsManagerKeyStore(clients, prefix).check_home(EU, "ca")
        assert caught.value.code == "secret_region_mismatch"
        assert caught.value.ids["location"] == US
        assert caught.value.ids["secret"] == "ca"

    async def test_copy_of_another_regions_primary_is_refused(
        self, clients: ClientFactory, moto_eu: MotoServer
    ) -> None:
        """This region's copy is a replica whose primary is in us-east-1: refused."""
        prefix = unique("primary")
        elsewhere = boto3.client("secretsmanager", region_name=US, endpoint_url=moto_eu.url)
        elsewhere.create_secret(
            Name=f"{prefix}/{EU}/ca", SecretBinary=b"k", AddReplicaRegions=[{"Region": EU}]
        )
        with pytest.raises(RegionMismatch) as caught:
            await SecretsManagerKeyStore(clients, prefix).check_home(EU, "ca")
        assert US in caught.value.ids["location"]

    async def test_unreachable_is_unavailable(self) -> None:
        """A closed endpoint fails closed with 503, not a pass."""
        dead = ClientFactory({EU: "http://127.0.0.1:9"}, max_attempts=1, connect_timeout=1)
        with pytest.raises(UnavailableError):
            await SecretsManagerKeyStore(dead).check_home(EU, "ca")


class TestRegionGatewayKeys:
    """The gateway keys of AWS mode: one pair per region, in that region's secrets."""

    async def test_every_replica_reads_one_host_key(
        self, clients: ClientFactory, moto_us: MotoServer
    ) -> None:
        """Two stores (two replicas) get the same keys; us-east-1 received nothing."""
        prefix = unique("gw")
        settings = {
            EU: AwsRegionSettings(
                EU, "bucket", "alias/aws/secretsmanager", "table", "group", secret_prefix=prefix
            )
        }
        mark = moto_us.mark()
        first = await region_gateway_keys(RegionalSecrets(clients, settings), EU)
        second = await region_gateway_keys(RegionalSecrets(clients, settings), EU)
        assert first.host_public() == second.host_public()
        assert first.client_public() == second.client_public()
        assert first.host_public() != first.client_public()
        assert moto_us.since(mark) == []
