"""The TIA's consent request section, built from audit records alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from broker.audit.tia import TiaScope, build_tia, render_markdown

SCOPE = TiaScope(
    "acme-de",
    "eu-central-1",
    "standard",
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 12, 1, tzinfo=UTC),
    {"audit trail": "var/regions/eu-central-1/audit"},
)


def asked(request_id: str, org: str = "acme-de") -> dict[str, Any]:
    """A ``consent.requested`` record."""
    return {
        "event": "consent.requested", "time": "2026-11-02T10:00:00Z", "org_id": org,
        "consent_request_id": request_id, "ticket_id": "T-1001", "staff_id": "eng-us-1",
        "staff_country": "US", "requested_s": 7200,
    }  # fmt: skip


def ended(event: str, request_id: str, **extra: Any) -> dict[str, Any]:
    """A record ending ``request_id`` with ``event``."""
    return {
        "event": event, "time": "2026-11-02T11:00:00Z", "org_id": "acme-de",
        "consent_request_id": request_id, **extra,
    }  # fmt: skip


RECORDS = [
    asked("r-1"), asked("r-2"), asked("r-3"), asked("r-4"), asked("r-x", org="bank-de"),
    ended("consent.request_approved", "r-1", actor="cust-1", granted_s=3600, consent_id="c-1"),
    ended("consent.request_denied", "r-2", actor="cust-1"),
    ended("consent.request_expired", "r-4"),
]  # fmt: skip


class TestConsentRequests:
    """Every request of the org in the period, with its outcome."""

    @pytest.mark.parametrize(
        ("request_id", "outcome", "granted", "consent"),
        [
            ("r-1", "approved", 3600, "c-1"),
            ("r-2", "denied", None, None),
            ("r-3", "pending", None, None),
            ("r-4", "expired", None, None),
        ],
    )
    def test_outcome_per_request(
        self, request_id: str, outcome: str, granted: int | None, consent: str | None
    ) -> None:
        """Approved (with its consent and granted time), denied, still pending, expired."""
        rows = {r["consent_request_id"]: r for r in build_tia(SCOPE, RECORDS)["consent_requests"]}
        row = rows[request_id]
        assert (row["outcome"], row["granted_seconds"], row["consent_id"]) == (
            outcome,
            granted,
            consent,
        )
        assert (row["staff_country"], row["requested_seconds"]) == ("US", 7200)

    def test_other_orgs_requests_left_out(self) -> None:
        """Only the report's org: bank-de's request is not in acme-de's report."""
        ids = [r["consent_request_id"] for r in build_tia(SCOPE, RECORDS)["consent_requests"]]
        assert ids == ["r-1", "r-2", "r-3", "r-4"]

    def test_markdown_table(self) -> None:
        """The Markdown names each request, its outcome, who decided and the hours."""
        text = render_markdown(build_tia(SCOPE, RECORDS))
        assert "## Consent requests from support staff" in text
        assert (
            "| r-1 | T-1001 | eng-us-1 | US | 2026-11-02T10:00:00Z | 2 | approved | cust-1 |"
            in text
        )
        assert "| r-3 | T-1001 | eng-us-1 | US | 2026-11-02T10:00:00Z | 2 | pending | - |" in text

    def test_markdown_without_requests(self) -> None:
        """An empty period says so in words."""
        assert "no support engineer asked for your consent" in render_markdown(build_tia(SCOPE, []))
