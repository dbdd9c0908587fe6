"""PolicyConfig: defaults, overrides by mapping, and errors that name the field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from broker.errors import InputError
from broker.policy import DEFAULT, AccessRequest, PolicyConfig, decide

AT = datetime(2026, 5, 4, 10, tzinfo=UTC)


def basis(config: PolicyConfig, country: str, region: str = "eu-central-1") -> str | None:
    """The basis a standard-tier decision gets under ``config``."""
    request = AccessRequest(region=region, tier="standard", staff_country=country, at=AT)
    return decide(request, config).basis


class TestDefaults:
    """The default configuration is the one docs/design.md states."""

    def test_lifetimes(self):
        """Default 15 minutes, max 60, no holidays."""
        assert (DEFAULT.default_ttl_seconds, DEFAULT.max_ttl_seconds) == (900, 3600)
        assert DEFAULT.holidays == frozenset()

    def test_empty_mapping_is_default(self):
        """No overrides gives a config equal to the default."""
        assert PolicyConfig.from_mapping({}) == DEFAULT


class TestFromMapping:
    """Overrides and extensions."""

    def test_extend_scc(self):
        """Extending SCC admits a new country with basis scc."""
        assert basis(DEFAULT, "BR") is None
        assert basis(PolicyConfig.from_mapping({"extend_scc": ["BR"]}), "BR") == "scc"

    def test_override_consent(self):
        """Emptying the consent set lets the US fall through to adequacy."""
        assert basis(PolicyConfig.from_mapping({"consent": []}), "US") == "adequacy"

    def test_extend_consent_routes_adequacy_country_via_consent(self):
        """Consent takes precedence over adequacy."""
        config = PolicyConfig.from_mapping({"extend_consent": ["GB"]})
        assert basis(config, "GB") is None
        assert config.consent == {"US", "GB"}

    def test_regions_extend_table(self):
        """A new region maps to its country; EEA follows from the country."""
        config = PolicyConfig.from_mapping({"regions": {"eu-east-1": "PL"}})
        assert basis(config, "US", "eu-east-1") is None  # an EEA ticket: consent needed
        assert config.region_eea["eu-east-1"] is True
        assert config.regions["eu-central-1"] == "DE"

    def test_lifetimes_and_holidays(self):
        """Lifetimes and holiday dates are read."""
        config = PolicyConfig.from_mapping(
            {"max_ttl_seconds": 1800, "default_ttl_seconds": 600, "holidays": ["2026-12-25"]}
        )
        assert (config.max_ttl_seconds, config.default_ttl_seconds) == (1800, 600)
        assert config.holidays == {date(2026, 12, 25)}

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"eea_countries": ["DE"]}, "eea_countries"),
            ({"extend_mars": ["DE"]}, "extend_mars"),
            ({"eea": "DE"}, "eea"),
            ({"eea": ["DE", "fr"]}, "eea[1]"),
            ({"extend_adequacy": ["BRA"]}, "extend_adequacy[0]"),
            ({"scc": [7]}, "scc[0]"),
            ({"max_ttl_seconds": "3600"}, "max_ttl_seconds"),
            ({"max_ttl_seconds": True}, "max_ttl_seconds"),
            ({"max_ttl_seconds": 0}, "max_ttl_seconds"),
            ({"max_ttl_seconds": 86_401}, "max_ttl_seconds"),
            ({"default_ttl_seconds": 7200}, "default_ttl_seconds"),
            ({"holidays": ["2026-13-01"]}, "holidays[0]"),
            ({"holidays": "2026-12-25"}, "holidays"),
            ({"regions": ["eu-central-1"]}, "regions"),
            ({"regions": {"Frankfurt": "DE"}}, "regions"),
            ({"regions": {"eu-east-1": "Poland"}}, "regions.eu-east-1"),
        ],
    )
    def test_bad_values_name_the_field(self, data, field):
        """Each malformed override is an InputError naming the field, not the value."""
        with pytest.raises(InputError) as caught:
            PolicyConfig.from_mapping(data)
        assert caught.value.field == field
        assert "Poland" not in caught.value.reason
        assert "BRA" not in caught.value.reason

    def test_not_a_mapping(self):
        """A non-mapping section is rejected as a whole."""
        with pytest.raises(InputError) as caught:
            PolicyConfig.from_mapping(["eea"])  # type: ignore[arg-type]
        assert caught.value.field == "policy"
