"""Record parsing and explained output for ``broker policy explain``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broker.policy.explain import explain

NOW = datetime(2026, 5, 4, 10, tzinfo=UTC)  # a Monday, inside the Berlin window
BASE = {"staff_country": "US", "org_region": "eu-central-1", "tier": "eea_only"}


class TestExplain:
    """Valid records give the documented output keys."""

    def test_output_keys_and_defaults(self):
        """Defaults: scope product, severity 3, at now, open ticket, active staff."""
        out = explain({"id": "a", **BASE}, NOW)
        assert list(out) == [
            "id", "allow", "basis", "reasons", "message", "max_ttl_seconds", "access",
            "support_window",
        ]  # fmt: skip
        assert out["id"] == "a"
        assert out["reasons"] == ["eea_only_requires_eea_staff", "consent_required"]
        assert out["support_window"] == {"open_now": True, "next_open": None}

    @pytest.mark.parametrize(
        ("until", "allow", "ttl"),
        [
            ("2026-05-04T10:20:00Z", True, 1200),
            ("2026-05-04T12:00:00+02:00", False, 0),  # == at: no longer valid
            ("2026-05-04T11:59:59+02:00", False, 0),
            ("2026-05-04T13:00:00+02:00", True, 3600),
        ],
    )
    def test_consent_valid_while_at_before_until(self, until, allow, ttl):
        """A consent is valid when at < consent_until, and caps the lifetime."""
        record = {**BASE, "at": "2026-05-04T10:00:00Z", "consent_until": until}
        out = explain({**record, "consent_waives_eea_only": True}, NOW)
        assert (out["allow"], out["max_ttl_seconds"]) == (allow, ttl)

    @pytest.mark.parametrize(
        ("waives", "allow", "last_reason"),
        [(True, True, "eea_only_waived"), (False, False, "consent_lacks_eea_only_waiver")],
    )
    def test_waiver_is_named(self, waives, allow, last_reason):
        """An eea_only org's consent for US staff counts only with the waiver, which is named."""
        record = {
            **BASE,
            "consent_until": "2026-05-04T11:00:00Z",
            "consent_waives_eea_only": waives,
        }
        out = explain(record, NOW)
        assert (out["allow"], out["reasons"][-1]) == (allow, last_reason)
        assert "waives_eea_only" in out["message"]

    @pytest.mark.parametrize(
        ("region", "tier", "terminal_access", "access"),
        [
            ("eu-central-1", "standard", False, ["view"]),
            ("eu-central-1", "standard", True, ["view", "terminal"]),
            ("eu-central-1", "eea_only", True, ["view"]),
            ("us-east-1", "eea_only", False, ["view", "terminal"]),
        ],
    )
    def test_access(self, region, tier, terminal_access, access):
        """The record's org flag and region give the allowed access modes."""
        record = {"staff_country": "DE", "org_region": region, "tier": tier}
        out = explain({**record, "terminal_access": terminal_access}, NOW)
        assert out["access"] == access

    def test_null_consent_means_none(self):
        """consent_until null is no consent."""
        assert explain({**BASE, "consent_until": None}, NOW)["allow"] is False

    def test_unknown_values_deny_not_error(self):
        """Known types with unknown meaning are the policy's to deny."""
        out = explain({**BASE, "tier": "gold", "staff_country": "ZZ"}, NOW)
        assert out["reasons"] == ["tier_unknown", "country_unknown"]
        assert out["support_window"] == {"open_now": False, "next_open": None}

    def test_support_window_when_closed(self):
        """Saturday, severity 2: closed until Monday 09:00 Berlin."""
        out = explain({**BASE, "severity": 2, "at": "2026-05-02T12:00:00+02:00"}, NOW)
        assert out["support_window"] == {
            "open_now": False,
            "next_open": "2026-05-04T09:00:00+02:00",
        }


class TestInvalidRecords:
    """Invalid records get {id, error} naming the field; nothing is guessed."""

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"colour": "blue"}, "colour"),
            ({"severity": "3"}, "severity"),
            ({"severity": 0}, "severity"),
            ({"severity": 5}, "severity"),
            ({"severity": True}, "severity"),
            ({"severity": 2.0}, "severity"),
            ({"at": "2026-05-04T10:00:00"}, "at"),
            ({"at": "yesterday"}, "at"),
            ({"at": 1_700_000_000}, "at"),
            ({"consent_until": "2026-05-04"}, "consent_until"),
            ({"staff_active": "yes"}, "staff_active"),
            ({"terminal_access": 1}, "terminal_access"),
            ({"consent_waives_eea_only": "true"}, "consent_waives_eea_only"),
            ({"tier": 1}, "tier"),
            ({"scope": None}, "scope"),
            ({"ticket_status": ["open"]}, "ticket_status"),
        ],
    )
    def test_field_errors(self, change, field):
        """Each bad value is an error for its field; the id is echoed."""
        out = explain({"id": 7, **BASE, **change}, NOW)
        assert out == {"id": 7, "error": out["error"]}
        assert out["error"]["field"] == field

    @pytest.mark.parametrize("missing", ["staff_country", "org_region", "tier"])
    def test_missing_required(self, missing):
        """Required keys must be present."""
        record = {k: v for k, v in BASE.items() if k != missing}
        assert explain(record, NOW)["error"]["field"] == missing

    @pytest.mark.parametrize("record", [[1, 2], "text", 3, None])
    def test_not_an_object(self, record):
        """A JSON value that is not an object is a line error."""
        assert explain(record, NOW) == {"id": None, "error": explain(record, NOW)["error"]}
        assert explain(record, NOW)["error"]["field"] == "line"

    def test_bad_id(self):
        """An id that is neither string, integer nor null is an error, not echoed."""
        out = explain({"id": {"x": 1}, **BASE}, NOW)
        assert out["id"] is None
        assert out["error"]["field"] == "id"
