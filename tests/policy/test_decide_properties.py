"""Hypothesis properties of ``decide``: fail closed, monotone tiers, consent cap, determinism."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from broker.policy import (
    DEFAULT,
    REGIONS,
    AccessRequest,
    ConsentGrant,
    decide,
    needs_eea_only_waiver,
)
from broker.policy.countries import ISO_3166_ALPHA2
from broker.policy.messages import MESSAGES

EXCLUDED_SCOPES = ("cas", "professional_services", "third_party", "subprocessor")
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]
known_regions = st.sampled_from(sorted(REGIONS))
known_countries = st.sampled_from(sorted(ISO_3166_ALPHA2))
known_tiers = st.sampled_from(["standard", "eea_only"])
known_scopes = st.sampled_from(["product", *EXCLUDED_SCOPES])
times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.sampled_from(ZONES)
)


@st.composite
def requests(
    draw,
    region=known_regions,
    country=known_countries,
    tier=known_tiers,
    scope=known_scopes,
):
    """Requests over known and unknown values, with or without a consent."""
    at = draw(times)
    consent = draw(
        st.none()
        | st.builds(
            ConsentGrant,
            st.integers(-(10**7), 10**10).map(lambda us: at + timedelta(microseconds=us)),
            revoked=st.booleans(),
            waives_eea_only=st.booleans(),
        )
    )
    return AccessRequest(
        region=draw(region),
        tier=draw(tier),
        scope=draw(scope),
        staff_country=draw(country),
        severity=draw(st.integers(1, 4)),
        ticket_status=draw(st.sampled_from(["open", "open", "closed"])),
        staff_active=draw(st.booleans() | st.just(True)),
        consent=consent,
        at=at,
        terminal_access=draw(st.booleans()),
    )


class TestProperties:
    """Hypothesis properties of ``decide``."""

    @given(requests(region=st.text().filter(lambda r: r not in REGIONS)))
    def test_unknown_region_denies(self, access):
        """Fail closed on any unknown region."""
        decision = decide(access)
        assert not decision.allow
        assert "region_unknown" in decision.reasons

    @given(requests(country=st.text(max_size=3).filter(lambda c: c not in ISO_3166_ALPHA2)))
    def test_unknown_country_denies(self, access):
        """Fail closed on any unknown country."""
        assert "country_unknown" in decide(access).reasons

    @given(requests(tier=st.text().filter(lambda t: t not in ("standard", "eea_only"))))
    def test_unknown_tier_denies(self, access):
        """Fail closed on any unknown tier."""
        assert "tier_unknown" in decide(access).reasons

    @given(requests(scope=st.text().filter(lambda s: s not in ("product", *EXCLUDED_SCOPES))))
    def test_unknown_scope_denies(self, access):
        """Fail closed on any unknown scope."""
        assert "scope_unknown" in decide(access).reasons

    @given(requests())
    def test_eea_only_never_allows_what_standard_denies(self, access):
        """Same inputs: an eea_only allow implies a standard allow."""
        if decide(replace(access, tier="eea_only")).allow:
            assert decide(replace(access, tier="standard")).allow

    @given(requests())
    def test_never_past_consent_expiry(self, access):
        """A consent-based allow ends at or before the consent's expiry."""
        decision = decide(access)
        if decision.basis == "consent":
            assert access.consent is not None
            assert access.at + timedelta(seconds=decision.max_ttl_seconds) <= (
                access.consent.expires_at
            )

    @given(requests())
    def test_lifetime_bounds(self, access):
        """Allow means 1..max seconds and a basis; deny means 0 and no basis."""
        decision = decide(access)
        if decision.allow:
            assert 1 <= decision.max_ttl_seconds <= DEFAULT.max_ttl_seconds
            assert decision.basis is not None
        else:
            assert (decision.max_ttl_seconds, decision.basis) == (0, None)
        assert decision.message in MESSAGES.values()

    @given(requests())
    def test_deterministic(self, access):
        """The same inputs (even a fresh copy) give the same decision."""
        assert decide(access) == decide(replace(access)) == decide(access)


class TestAccessProperties:
    """Hypothesis properties of the access modes every decision carries."""

    @given(requests())
    def test_eea_only_never_gets_terminal_on_eea(self, access):
        """An eea_only org's EEA ticket never allows a terminal, whatever scope or flag."""
        decision = decide(replace(access, tier="eea_only"))
        if DEFAULT.region_eea.get(access.region):
            assert "terminal" not in decision.access

    @given(requests())
    def test_eea_never_terminal_without_the_flag(self, access):
        """Without the org's opt-in, an EEA ticket allows the viewer only."""
        decision = decide(replace(access, terminal_access=False))
        if DEFAULT.region_eea.get(access.region):
            assert decision.access in ((), ("view",))

    @given(requests())
    def test_allow_iff_modes_and_view_always(self, access):
        """An allow always offers the viewer; a denial offers nothing."""
        decision = decide(access)
        assert ("view" in decision.access) is decision.allow
        assert decision.allow or decision.access == ()

    @given(requests())
    def test_non_eea_allows_both(self, access):
        """An allowed ticket of a region outside the EEA offers both modes."""
        decision = decide(access)
        if decision.allow and DEFAULT.region_eea.get(access.region) is False:
            assert decision.access == ("view", "terminal")

    @given(requests())
    def test_unwaived_consent_never_admits_into_eea_only(self, access):
        """Staff who need a waiver are allowed only by a consent that carries it."""
        decision = decide(access)
        waiver = needs_eea_only_waiver(
            access.region, access.tier, access.scope, access.staff_country
        )
        if waiver and decision.allow:
            assert access.consent is not None
            assert access.consent.waives_eea_only
            assert "eea_only_waived" in decision.reasons
