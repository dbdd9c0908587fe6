"""The access policy's rule table, traps and properties (docs/design.md, "The access policy")."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from broker.errors import InputError, PolicyDenied
from broker.models import Consent, Org, Staff, Ticket
from broker.policy import (
    AccessRequest,
    ConsentGrant,
    PolicyConfig,
    classify_staff,
    decide,
    grant_ttl,
    needs_eea_only_waiver,
)
from broker.policy.messages import MESSAGES
from broker.typing import ConsentId, OrgId, StaffId, Subject, TicketId

AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
EXCLUDED_SCOPES = ("cas", "professional_services", "third_party", "subprocessor")
EEA_ONLY_CONSENT = ("eea_only_requires_eea_staff", "consent_required")
EEA_ONLY_NOT_PERMITTED = ("eea_only_requires_eea_staff", "country_not_permitted")
EEA_ONLY_UNWAIVED = ("eea_only_requires_eea_staff", "consent_lacks_eea_only_waiver")


def req(consent_in: float | None = None, waive: bool = False, **fields) -> AccessRequest:
    """A request on an open product ticket in Frankfurt; ``consent_in`` seconds from AT.

    ``waive``: the consent carries ``waives_eea_only``.
    """
    base = {"region": "eu-central-1", "tier": "standard", "staff_country": "DE", "at": AT}
    if consent_in is not None:
        fields["consent"] = ConsentGrant(AT + timedelta(seconds=consent_in), waives_eea_only=waive)
    return AccessRequest(**{**base, **fields})


class TestRuleTable:
    """Every rule of docs/design.md, one row per case."""

    @pytest.mark.parametrize(
        ("region", "tier", "country", "consent_in", "basis", "last_reason"),
        [
            # rule 3: not an EEA ticket -> any active staff, even without consent
            ("us-east-1", "standard", "BR", None, "not-eea", "not_eea"),
            ("us-east-1", "eea_only", "IN", None, "not-eea", "not_eea"),
            ("eu-west-2", "eea_only", "US", None, "not-eea", "not_eea"),  # London: not EEA
            ("eu-central-2", "eea_only", "CN", None, "not-eea", "not_eea"),  # Zurich: not EEA
            ("ap-south-1", "standard", "DE", None, "not-eea", "not_eea"),
            # rule 5: standard on an EEA ticket
            ("eu-central-1", "standard", "DE", None, "intra-eea", "intra_eea"),
            ("eu-west-1", "standard", "NO", None, "intra-eea", "intra_eea"),  # Norway is EEA
            ("eu-west-3", "standard", "IS", None, "intra-eea", "intra_eea"),
            ("eu-north-1", "standard", "LI", None, "intra-eea", "intra_eea"),
            ("eu-south-1", "standard", "GR", None, "intra-eea", "intra_eea"),
            ("eu-south-2", "standard", "CH", None, "adequacy", "adequacy"),  # CH: adequacy
            ("eu-central-1", "standard", "GB", None, "adequacy", "adequacy"),
            ("eu-central-1", "standard", "JP", None, "adequacy", "adequacy"),
            ("eu-central-1", "standard", "IN", None, "scc", "scc"),
            ("eu-central-1", "standard", "PH", None, "scc", "scc"),
            ("eu-central-1", "standard", "US", 7200, "consent", "consent_valid"),
            ("eusc-de-east-1", "standard", "US", 7200, "consent", "consent_valid"),
            # rule 6: eea_only on a product ticket
            ("eu-central-1", "eea_only", "NO", None, "intra-eea", "intra_eea"),
            ("eusc-de-east-1", "eea_only", "FR", None, "intra-eea", "intra_eea"),
            # rule 6 with a consent that waives EEA-only support (it must, to count)
            ("eu-central-1", "eea_only", "CH", 7200, "consent", "eea_only_waived"),
            ("eu-central-1", "eea_only", "IN", 7200, "consent", "eea_only_waived"),
            ("eu-central-1", "eea_only", "US", 7200, "consent", "eea_only_waived"),
        ],
    )
    def test_allowed(self, region, tier, country, consent_in, basis, last_reason):
        """Allowed cases carry their basis, reason and a positive lifetime."""
        decision = decide(
            req(consent_in, waive=True, region=region, tier=tier, staff_country=country)
        )
        assert decision.allow
        assert decision.basis == basis
        assert decision.reasons[-1] == last_reason
        assert decision.max_ttl_seconds == 3600
        assert decision.message == MESSAGES[last_reason]

    @pytest.mark.parametrize(
        ("region", "tier", "country", "consent_in", "reasons"),
        [
            # US staff need consent despite the Data Privacy Framework
            ("eu-central-1", "standard", "US", None, ("consent_required",)),
            ("eusc-de-east-1", "standard", "US", None, ("consent_required",)),
            ("eu-central-1", "standard", "BR", None, ("country_not_permitted",)),
            ("eu-central-1", "standard", "BR", 7200, ("country_not_permitted",)),
            ("eu-central-1", "standard", "CN", None, ("country_not_permitted",)),
            # eea_only: non-EEA staff only by consent; never what standard denies
            ("eu-central-1", "eea_only", "CH", None, EEA_ONLY_CONSENT),
            ("eu-central-1", "eea_only", "IN", None, EEA_ONLY_CONSENT),
            ("eu-central-1", "eea_only", "GB", None, EEA_ONLY_CONSENT),
            ("eu-central-1", "eea_only", "US", None, EEA_ONLY_CONSENT),
            ("eu-central-1", "eea_only", "BR", 7200, EEA_ONLY_NOT_PERMITTED),
            # a consent without the waiver does not let non-EEA staff into EEA-only support
            ("eu-central-1", "eea_only", "CH", 7200, EEA_ONLY_UNWAIVED),
            ("eu-central-1", "eea_only", "US", 7200, EEA_ONLY_UNWAIVED),
        ],
    )  # fmt: skip
    def test_denied(self, region, tier, country, consent_in, reasons):
        """Denied cases have no basis, no lifetime and the expected codes."""
        decision = decide(req(consent_in, region=region, tier=tier, staff_country=country))
        assert not decision.allow
        assert decision.basis is None
        assert decision.reasons == reasons
        assert decision.max_ttl_seconds == 0

    @pytest.mark.parametrize("scope", EXCLUDED_SCOPES)
    @pytest.mark.parametrize(("country", "basis"), [("CH", "adequacy"), ("IN", "scc")])
    def test_excluded_scopes_fall_back_to_standard(self, scope, country, basis):
        """Rule 4: eea_only applies to product only; other scopes are standard."""
        decision = decide(req(tier="eea_only", scope=scope, staff_country=country))
        assert decision.allow
        assert decision.basis == basis
        assert decision.reasons == ("scope_outside_eea_only", basis)

    @pytest.mark.parametrize("scope", EXCLUDED_SCOPES)
    def test_fallback_still_needs_consent_for_us(self, scope):
        """Falling back to standard does not waive the US consent requirement."""
        decision = decide(req(tier="eea_only", scope=scope, staff_country="US"))
        assert decision.reasons == ("scope_outside_eea_only", "consent_required")


class TestAccessModes:
    """The access modes each allow carries (``broker.policy.access``)."""

    @pytest.mark.parametrize(
        ("region", "tier", "scope", "terminal_access", "country", "access"),
        [
            # EEA tickets: the viewer only, unless a standard org opted in
            ("eu-central-1", "standard", "product", False, "DE", ("view",)),
            ("eu-central-1", "standard", "product", True, "DE", ("view", "terminal")),
            ("eu-central-1", "standard", "cas", True, "IN", ("view", "terminal")),
            ("eu-north-1", "standard", "product", False, "GB", ("view",)),
            # eea_only orgs never get a terminal on an EEA ticket, whatever the scope
            ("eu-central-1", "eea_only", "product", True, "DE", ("view",)),
            ("eu-central-1", "eea_only", "cas", True, "IN", ("view",)),
            ("eu-central-1", "eea_only", "third_party", False, "CH", ("view",)),
            # tickets outside the EEA: both, flag or not
            ("us-east-1", "standard", "product", False, "BR", ("view", "terminal")),
            ("us-east-1", "eea_only", "product", False, "DE", ("view", "terminal")),
            ("eu-west-2", "eea_only", "product", True, "US", ("view", "terminal")),
        ],
    )  # fmt: skip
    def test_allowed_modes(self, region, tier, scope, terminal_access, country, access):
        """Each allow carries the modes of its region, tier and org flag."""
        decision = decide(
            req(region=region, tier=tier, scope=scope, staff_country=country,
                terminal_access=terminal_access)
        )  # fmt: skip
        assert decision.allow
        assert decision.access == access

    @pytest.mark.parametrize("terminal_access", [False, True])
    def test_denial_has_no_modes(self, terminal_access):
        """A denial allows no way in at all."""
        decision = decide(req(staff_country="BR", terminal_access=terminal_access))
        assert (decision.allow, decision.access) == (False, ())

    def test_consent_allow_carries_modes(self):
        """A consent-based allow carries the modes too."""
        decision = decide(req(7200, staff_country="US", terminal_access=True))
        assert (decision.basis, decision.access) == ("consent", ("view", "terminal"))


class TestWaiverNeeded:
    """``needs_eea_only_waiver``: when a consent must carry ``waives_eea_only``."""

    @pytest.mark.parametrize(
        ("region", "tier", "scope", "country", "needed"),
        [
            ("eu-central-1", "eea_only", "product", "US", True),
            ("eu-central-1", "eea_only", "product", "CH", True),  # adequacy still needs it
            ("eu-central-1", "eea_only", "product", "IN", True),
            ("eu-central-1", "eea_only", "product", "DE", False),  # EEA staff
            ("eu-central-1", "eea_only", "product", "BR", False),  # denied anyway
            ("eu-central-1", "eea_only", "cas", "US", False),  # scope outside EEA-only
            ("eu-central-1", "standard", "product", "US", False),
            ("us-east-1", "eea_only", "product", "US", False),  # not an EEA ticket
            ("xx-nowhere-1", "eea_only", "product", "US", False),
            ("eu-central-1", "gold", "product", "US", False),
        ],
    )
    def test_table(self, region, tier, scope, country, needed):
        """Exactly non-EEA staff who could enter EEA-only support by consent need a waiver."""
        assert needs_eea_only_waiver(region, tier, scope, country) is needed


class TestFailClosed:
    """Rule 1: anything unknown, inactive or closed denies, listing every reason."""

    @pytest.mark.parametrize(
        ("fields", "reasons"),
        [
            ({"region": "eu-east-9"}, ("region_unknown",)),
            ({"region": "cn-north-1"}, ("region_unknown",)),
            ({"region": "EU-CENTRAL-1"}, ("region_unknown",)),
            ({"staff_country": "ZZ"}, ("country_unknown",)),
            ({"staff_country": "de"}, ("country_unknown",)),
            ({"staff_country": ""}, ("country_unknown",)),
            ({"staff_country": "DEU"}, ("country_unknown",)),
            ({"tier": "gold"}, ("tier_unknown",)),
            ({"scope": "billing"}, ("scope_unknown",)),
            ({"severity": 0}, ("severity_unknown",)),
            ({"severity": 5}, ("severity_unknown",)),
            ({"ticket_status": "pending"}, ("ticket_status_unknown",)),
            ({"staff_active": False}, ("staff_inactive",)),
            ({"ticket_status": "closed"}, ("ticket_closed",)),
            ({"at": datetime(2026, 5, 4, 10)}, ("time_without_offset",)),
            (
                {"region": "mars-1", "staff_country": "XX", "staff_active": False},
                ("region_unknown", "country_unknown", "staff_inactive"),
            ),
        ],
    )
    def test_denies_with_reasons(self, fields, reasons):
        """Each failure is named; a valid consent does not rescue any of them."""
        decision = decide(req(7200, **{"staff_country": "US", **fields}))
        assert not decision.allow
        assert decision.reasons == reasons
        assert decision.message == MESSAGES[reasons[0]]

    def test_closed_ticket_denies_even_not_eea(self):
        """Fail-closed checks come before the not-EEA allowance."""
        decision = decide(req(region="us-east-1", ticket_status="closed"))
        assert decision.reasons == ("ticket_closed",)


class TestConsent:
    """Rules 7-8: a consent is valid up to its expiry and caps the lifetime."""

    @pytest.mark.parametrize(
        ("consent_in", "allow", "ttl", "last_reason"),
        [
            (7200, True, 3600, "consent_valid"),
            (3600, True, 3600, "consent_valid"),
            (3599, True, 3599, "ttl_capped_by_consent"),
            (1200, True, 1200, "ttl_capped_by_consent"),
            (1799.7, True, 1799, "ttl_capped_by_consent"),  # floor: never past expiry
            (1, True, 1, "ttl_capped_by_consent"),
            (0.5, False, 0, "consent_expires_too_soon"),
            (0, False, 0, "consent_expired"),  # valid up to its expiry, not at it
            (-1, False, 0, "consent_expired"),
        ],
    )
    def test_expiry_and_cap(self, consent_in, allow, ttl, last_reason):
        """The lifetime is min(max, whole seconds left); at expiry it is invalid."""
        decision = decide(req(consent_in, staff_country="US"))
        assert (decision.allow, decision.max_ttl_seconds) == (allow, ttl)
        assert decision.reasons[-1] == last_reason

    def test_expiry_in_another_offset(self):
        """Expiry and time compare as instants, whatever their offsets."""
        expiry = datetime(2026, 5, 4, 12, 10, tzinfo=timezone(timedelta(hours=2)))
        decision = decide(req(staff_country="US", consent=ConsentGrant(expiry)))
        assert decision.max_ttl_seconds == 600

    def test_revoked(self):
        """A revoked consent allows nothing."""
        grant = ConsentGrant(AT + timedelta(hours=2), revoked=True)
        decision = decide(req(staff_country="US", consent=grant))
        assert decision.reasons == ("consent_revoked",)

    def test_naive_expiry(self):
        """A consent expiry without an offset denies rather than guessing a zone."""
        grant = ConsentGrant(datetime(2026, 5, 4, 12))
        assert decide(req(staff_country="US", consent=grant)).reasons == (
            "consent_time_without_offset",
        )

    def test_consent_id_reported(self):
        """The consent that allowed the session is named in the decision."""
        grant = ConsentGrant(AT + timedelta(hours=2), ConsentId("c-1"))
        assert decide(req(staff_country="US", consent=grant)).consent_id == "c-1"

    def test_consent_not_used_by_direct_basis(self):
        """Staff allowed directly are not capped by (or credited to) a consent."""
        decision = decide(req(60, staff_country="CH"))
        assert (decision.basis, decision.max_ttl_seconds, decision.consent_id) == (
            "adequacy",
            3600,
            None,
        )

    def test_configured_max(self):
        """The configured maximum caps every allow."""
        config = PolicyConfig(max_ttl_seconds=600, default_ttl_seconds=300)
        assert decide(req(), config).max_ttl_seconds == 600
        assert decide(req(7200, staff_country="US"), config).max_ttl_seconds == 600


class TestFromRecords:
    """``AccessRequest.of`` builds requests from stored records."""

    def records(self, consent_staff: str = "s-1"):
        """An eea_only org, its ticket, a US engineer and a consent."""
        org = Org(OrgId("o-1"), "eu-central-1", "eea_only")
        ticket = Ticket(TicketId("t-1"), OrgId("o-1"), 2, "product")
        staff = Staff(StaffId("s-1"), "US")
        consent = Consent(
            ConsentId("c-1"), OrgId("o-1"), TicketId("t-1"), StaffId(consent_staff),
            Subject("admin-1"), AT, AT + timedelta(minutes=30), waives_eea_only=True,
        )  # fmt: skip
        return org, ticket, staff, consent

    def test_matching_consent_allows(self):
        """A consent naming this staff member and ticket allows, capped by it."""
        decision = decide(AccessRequest.of(*self.records(), at=AT))
        assert (decision.basis, decision.max_ttl_seconds, decision.consent_id) == (
            "consent",
            1800,
            "c-1",
        )

    def test_stored_consent_without_waiver_denies(self):
        """The stored consent's ``waives_eea_only`` reaches the policy."""
        org, ticket, staff, consent = self.records()
        unwaived = replace(consent, waives_eea_only=False)
        decision = decide(AccessRequest.of(org, ticket, staff, unwaived, at=AT))
        assert decision.reasons[-1] == "consent_lacks_eea_only_waiver"

    @pytest.mark.parametrize(
        ("tier", "terminal_access", "access"),
        [
            ("standard", False, ("view",)),
            ("standard", True, ("view", "terminal")),
            ("eea_only", True, ("view",)),
        ],
    )
    def test_org_terminal_access_reaches_the_policy(self, tier, terminal_access, access):
        """The stored org flag ``terminal_access`` decides terminals on EEA tickets."""
        org, ticket, _, _ = self.records()
        org = replace(org, tier=tier, terminal_access=terminal_access)
        decision = decide(AccessRequest.of(org, ticket, Staff(StaffId("s-1"), "DE"), None, AT))
        assert decision.access == access

    def test_consent_for_someone_else_is_ignored(self):
        """A consent naming another staff member does not count."""
        decision = decide(AccessRequest.of(*self.records("s-2"), at=AT))
        assert decision.reasons[-1] == "consent_required"

    def test_ticket_of_another_org(self):
        """A ticket from a different org is a caller error naming the field."""
        org, ticket, staff, consent = self.records()
        with pytest.raises(InputError) as caught:
            AccessRequest.of(org, replace(ticket, org_id=OrgId("o-2")), staff, consent, AT)
        assert caught.value.field == "ticket_id"


class TestClassifyStaff:
    """The routing helper agrees with the rules."""

    @pytest.mark.parametrize(
        ("region", "tier", "scope", "country", "route"),
        [
            ("eu-central-1", "eea_only", "product", "DE", "intra-eea"),
            ("eu-central-1", "eea_only", "product", "CH", "needs-consent"),
            ("eu-central-1", "eea_only", "cas", "CH", "adequacy"),
            ("eu-central-1", "standard", "product", "US", "needs-consent"),
            ("eu-central-1", "standard", "product", "PH", "scc"),
            ("eu-central-1", "standard", "product", "BR", "denied"),
            ("eu-west-2", "eea_only", "product", "BR", "not-eea"),
            ("eu-west-2", "eea_only", "product", "ZZ", "denied"),
            ("nowhere-1", "standard", "product", "DE", "denied"),
            ("eu-central-1", "gold", "product", "DE", "denied"),
            ("eu-central-1", "standard", "billing", "DE", "denied"),
        ],
    )
    def test_routes(self, region, tier, scope, country, route):
        """Each staff country gets a basis, needs-consent or denied."""
        assert classify_staff(region, tier, scope, country) == route


class TestDecisionApi:
    """``Decision`` helpers used by the API."""

    def test_to_dict(self):
        """The dict has exactly the documented keys and JSON types."""
        assert decide(req(staff_country="BR")).to_dict() == {
            "allow": False,
            "basis": None,
            "reasons": ["country_not_permitted"],
            "message": MESSAGES["country_not_permitted"],
            "max_ttl_seconds": 0,
            "consent_id": None,
            "access": [],
        }

    def test_raise_if_denied(self):
        """A denial raises PolicyDenied with its reasons; an allow does not."""
        decide(req()).raise_if_denied()
        with pytest.raises(PolicyDenied) as caught:
            decide(req(staff_country="US")).raise_if_denied()
        assert caught.value.reasons == ["consent_required"]

    @pytest.mark.parametrize(("requested", "ttl"), [(None, 900), (60, 60), (99_999, 1200)])
    def test_grant_ttl(self, requested, ttl):
        """The granted lifetime is the request or default, within the decision's cap."""
        assert grant_ttl(decide(req(1200, staff_country="US")), requested) == ttl

    @pytest.mark.parametrize("requested", [0, -5, True, "60"])
    def test_grant_ttl_rejects_bad_request(self, requested):
        """A malformed requested lifetime names the field."""
        with pytest.raises(InputError) as caught:
            grant_ttl(decide(req()), requested)
        assert caught.value.field == "ttl_seconds"

    def test_grant_ttl_of_denial(self):
        """No lifetime is granted for a denial."""
        with pytest.raises(PolicyDenied):
            grant_ttl(decide(req(staff_country="BR")), None)
