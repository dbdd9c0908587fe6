"""The one client factory: region-pinned, cached, and recording what it built."""

from __future__ import annotations

import pytest

from broker.aws.clients import ClientFactory, known_region
from broker.errors import InputError
from broker.typing import Region
from tests.aws.conftest import EU, US
from tests.aws.moto_server import MotoServer


class TestClientFactory:
    """``ClientFactory.client``."""

    def test_cached_per_service_and_region(self, clients: ClientFactory) -> None:
        """The same key returns the same client; another region gets its own."""
        first = clients.client("s3", EU)
        assert clients.client("s3", EU) is first
        assert clients.client("s3", US) is not first
        assert clients.built == [("s3", EU), ("s3", US)]

    def test_client_is_pinned_to_region_and_endpoint(
        self, clients: ClientFactory, moto_eu: MotoServer
    ) -> None:
        """The client's region and endpoint are the region's, never a default."""
        client = clients.client("sts", EU)
        assert client.meta.region_name == EU
        assert client.meta.endpoint_url == moto_eu.url

    def test_requests_go_to_the_regions_endpoint(
        self, clients: ClientFactory, moto_eu: MotoServer, moto_us: MotoServer
    ) -> None:
        """A call for eu-central-1 reaches only the eu server, signed for eu-central-1."""
        eu_mark, us_mark = moto_eu.mark(), moto_us.mark()
        clients.client("sts", EU).get_caller_identity()
        assert {(s.region, s.service) for s in moto_eu.since(eu_mark)} == {(EU, "sts")}
        assert moto_us.since(us_mark) == []

    @pytest.mark.parametrize(
        ("service", "region", "field"),
        [
            ("s3", "mars-north-1", "region"),
            ("s3", "../etc", "region"),
            ("s3", "", "region"),
            ("iam", EU, "service"),
        ],
    )
    def test_refuses_unknown(
        self, clients: ClientFactory, service: str, region: str, field: str
    ) -> None:
        """An unknown region or service builds nothing and names the field."""
        with pytest.raises(InputError) as caught:
            clients.client(service, region)
        assert caught.value.field == field
        assert clients.built == []

    def test_endpoint_regions_are_checked(self) -> None:
        """An endpoint override for an unknown region is refused at construction."""
        with pytest.raises(InputError):
            ClientFactory({Region("xx-nowhere-9"): "http://127.0.0.1:1"})

    def test_regions_built(self, clients: ClientFactory) -> None:
        """``regions_built`` is the set of regions any client was built for."""
        clients.client("s3", US)
        clients.client("logs", US)
        assert clients.regions_built() == {US}


class TestKnownRegion:
    """``known_region``."""

    @pytest.mark.parametrize("region", ["eu-central-1", "us-east-1", "ap-southeast-2"])
    def test_known(self, region: str) -> None:
        """Real region codes pass unchanged."""
        assert known_region(region) == region

    @pytest.mark.parametrize("region", ["eu-central-9", "EU-CENTRAL-1", "local"])
    def test_unknown(self, region: str) -> None:
        """Anything not in the region table is refused."""
        with pytest.raises(InputError):
            known_region(region)
