"""AWS region code -> ISO 3166 country of the region's data centres.

A region's EEA membership follows from its country (see ``countries.EEA``), never
from its name: ``eu-west-2`` (London) and ``eu-central-2`` (Zurich) start with
``eu-`` yet are not in the EEA. A region missing from this table is unknown and
the policy denies it.

Source: the ``aws`` partition of botocore 1.44.8 ``data/endpoints.json`` (region
descriptions name each city), plus the ``aws-eusc`` partition's European
Sovereign Cloud region; checked 2026-11-29. China, GovCloud and ISO partitions
are not commercial regions and are deliberately absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

from broker.typing import CountryCode, Region

REGIONS_SOURCE = "botocore 1.44.8 data/endpoints.json, partitions aws and aws-eusc"
REGIONS_AS_OF = date(2026, 11, 29)

_TABLE: dict[str, str] = {
    "af-south-1": "ZA",  # Cape Town
    "ap-east-1": "HK",  # Hong Kong
    "ap-east-2": "TW",  # Taipei
    "ap-northeast-1": "JP",  # Tokyo
    "ap-northeast-2": "KR",  # Seoul
    "ap-northeast-3": "JP",  # Osaka
    "ap-south-1": "IN",  # Mumbai
    "ap-south-2": "IN",  # Hyderabad
    "ap-southeast-1": "SG",  # Singapore
    "ap-southeast-2": "AU",  # Sydney
    "ap-southeast-3": "ID",  # Jakarta
    "ap-southeast-4": "AU",  # Melbourne
    "ap-southeast-5": "MY",  # Malaysia
    "ap-southeast-6": "NZ",  # New Zealand (Auckland)
    "ap-southeast-7": "TH",  # Thailand
    "ca-central-1": "CA",  # Canada (Central)
    "ca-west-1": "CA",  # Calgary
    "eu-central-1": "DE",  # Frankfurt
    "eu-central-2": "CH",  # Zurich: adequacy country, NOT EEA
    "eu-north-1": "SE",  # Stockholm
    "eu-south-1": "IT",  # Milan
    "eu-south-2": "ES",  # Spain (Aragon)
    "eu-west-1": "IE",  # Ireland
    "eu-west-2": "GB",  # London: adequacy country, NOT EEA
    "eu-west-3": "FR",  # Paris
    "eusc-de-east-1": "DE",  # AWS European Sovereign Cloud (Brandenburg)
    "il-central-1": "IL",  # Tel Aviv
    "me-central-1": "AE",  # UAE
    "me-south-1": "BH",  # Bahrain
    "mx-central-1": "MX",  # Mexico (Central)
    "sa-east-1": "BR",  # Sao Paulo
    "us-east-1": "US",  # N. Virginia
    "us-east-2": "US",  # Ohio
    "us-west-1": "US",  # N. California
    "us-west-2": "US",  # Oregon
}

REGIONS: Mapping[Region, CountryCode] = MappingProxyType(
    {Region(region): CountryCode(country) for region, country in _TABLE.items()}
)
"""Every AWS commercial region (and the European Sovereign Cloud) -> its country."""


def region_country(
    region: str, table: Mapping[Region, CountryCode] = REGIONS
) -> CountryCode | None:
    """The country a region's data lives in, or None when the region is unknown."""
    return table.get(Region(region))
