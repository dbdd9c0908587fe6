"""Explaining a recorded denial with the policy's own ``explain``."""

from __future__ import annotations

import pytest

from broker.auth.principal import Principal
from broker.errors import ForbiddenError, NotFoundError
from broker.service.explain import DenialExplainer, denial_facts
from broker.state import MAIN_WRITER
from broker.typing import Region, Subject
from tests.service.conftest import Services

OPS = Principal(Subject("ops-1"), "ops")
EU, US = Region("eu-central-1"), Region("us-east-1")


def deny(services: Services, region: Region = EU, **fields: object) -> int:
    """Record a denial in ``region``; its seq."""
    record = services.auditor.emit("session.denied", region=region, **fields)
    return int(record["seq"])


class TestDenialFacts:
    """The what-if record a denial's facts make."""

    @pytest.mark.parametrize(
        ("reasons", "status", "active"),
        [
            (["consent_required"], "open", True),
            (["ticket_closed"], "closed", True),
            (["staff_inactive", "ticket_closed"], "closed", False),
        ],
    )
    def test_status_and_activity_come_from_the_reasons(
        self, reasons: list[str], status: str, active: bool
    ) -> None:
        """A closed ticket or inactive staff is read from the recorded reasons, not today."""
        facts = denial_facts({"reasons": reasons, "staff_country": "US"}, EU)
        assert (facts["ticket_status"], facts["staff_active"]) == (status, active)
        assert (facts["org_region"], facts["staff_country"]) == (EU, "US")


class TestDenialExplainer:
    """A denial from the trail, explained again, with the consent what-if."""

    async def test_us_engineer_needs_consent(self, services: Services) -> None:
        """consent_required, explained the same now, and allowed on consent with one."""
        seq = deny(services, staff_country="US", tier="standard", scope="product",
                   ticket_id="T-1001", reasons=["consent_required"])  # fmt: skip
        found = await DenialExplainer(services.audit).explain(OPS, EU, MAIN_WRITER, seq)
        assert found.recorded[0][0] == "consent_required"
        assert "consent" in found.recorded[0][1]
        assert found.explained["allow"] is False
        assert found.explained["reasons"] == ["consent_required"]
        assert found.with_consent["allow"] is True
        assert found.with_consent["basis"] == "consent"

    async def test_eea_only_what_if_waives(self, services: Services) -> None:
        """For an EEA-only org the what-if consent carries the waiver, as it must."""
        seq = deny(services, staff_country="US", tier="eea_only", scope="product",
                   reasons=["consent_required"])  # fmt: skip
        found = await DenialExplainer(services.audit).explain(OPS, EU, MAIN_WRITER, seq)
        assert found.with_consent["allow"] is True
        assert "eea_only_waived" in found.with_consent["reasons"]

    async def test_a_country_never_permitted_stays_denied(self, services: Services) -> None:
        """A consent does not help staff from a country the policy never admits."""
        seq = deny(services, staff_country="BR", tier="standard", scope="product",
                   reasons=["country_not_permitted"])  # fmt: skip
        found = await DenialExplainer(services.audit).explain(OPS, EU, MAIN_WRITER, seq)
        assert found.explained["allow"] is False
        assert found.with_consent["allow"] is False

    async def test_other_records_are_not_denials(self, services: Services) -> None:
        """A seq holding another event, or none, answers 404."""
        other = services.auditor.emit("egress.blocked", region=EU, kind="osc52")
        explainer = DenialExplainer(services.audit)
        for seq in (int(other["seq"]), 999):
            with pytest.raises(NotFoundError):
                await explainer.explain(OPS, EU, MAIN_WRITER, seq)

    async def test_engineers_are_forbidden(self, services: Services) -> None:
        """Only ops and admins explain recorded denials."""
        seq = deny(services, staff_country="US", tier="standard", reasons=["consent_required"])
        with pytest.raises(ForbiddenError):
            await DenialExplainer(services.audit).explain(
                Principal(Subject("eng-us-1"), "engineer"), EU, MAIN_WRITER, seq
            )
