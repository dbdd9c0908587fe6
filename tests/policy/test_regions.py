"""The region table: every AWS commercial region, EEA membership by country."""

from __future__ import annotations

import json
from pathlib import Path

import botocore
import pytest

from broker.policy import EEA, REGIONS, region_country


def botocore_regions(partition: str) -> set[str]:
    """Region codes of one partition in the installed botocore's endpoint data."""
    data = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    (match,) = [p for p in data["partitions"] if p["partition"] == partition]
    return set(match["regions"])


class TestRegions:
    """``REGIONS`` and ``region_country``."""

    def test_covers_every_commercial_region(self):
        """Every region of botocore's commercial and sovereign partitions is in the table."""
        assert botocore_regions("aws") | botocore_regions("aws-eusc") == set(REGIONS)

    @pytest.mark.parametrize(
        ("region", "country", "eea"),
        [
            ("eu-central-1", "DE", True),
            ("eu-west-1", "IE", True),
            ("eu-west-3", "FR", True),
            ("eu-north-1", "SE", True),
            ("eu-south-1", "IT", True),
            ("eu-south-2", "ES", True),
            ("eusc-de-east-1", "DE", True),
            ("eu-west-2", "GB", False),  # London: not EEA despite "eu-"
            ("eu-central-2", "CH", False),  # Zurich: not EEA despite "eu-"
            ("us-east-1", "US", False),
            ("il-central-1", "IL", False),
        ],
    )
    def test_country_and_eea(self, region, country, eea):
        """A region's country, and EEA membership derived from it."""
        assert region_country(region) == country
        assert (REGIONS[region] in EEA.members) is eea

    @pytest.mark.parametrize(
        "region", ["cn-north-1", "us-gov-west-1", "eu-east-9", "", "EU-WEST-1"]
    )
    def test_unknown(self, region):
        """Non-commercial, made-up or mis-cased regions are unknown."""
        assert region_country(region) is None
