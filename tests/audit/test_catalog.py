"""Tests for broker.audit.catalog: the allowlist schema and normalisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from broker.audit.catalog import EVENT_FIELDS, EVENT_TYPES, FIELD_KINDS, RESERVED, build_fields
from broker.audit.redact import RegionRedactor
from broker.errors import InputError

R = RegionRedactor(b"k" * 32)

REQUIRED_TYPES = [
    "session.requested", "session.denied", "session.issued", "session.connected",
    "egress.blocked", "session.closed", "session.revoked", "consent.granted",
    "consent.revoked", "recording.stored", "auth.failed", "import.applied", "config.changed",
]  # fmt: skip
# Added by the product beyond the list: a relay that could not reach its
# target, an ops download of a recording, and a recordings bucket found in the
# wrong region (AWS mode refuses sessions then).
EXTRA_TYPES = [
    "relay.failed",
    "recording.read",
    "recordings.region_mismatch",
    # A region refused at start because its CA or gateway key also lives elsewhere.
    "keys.region_mismatch",
    "org.setting_changed",
    "audit.tail_sealed",
    # The browser viewer: links issued (grant, resume), refused connections and
    # resumes (bad origin, used, expired, other region's link), and pastes by size.
    "viewer.link_issued",
    "viewer.refused",
    "viewer.paste",
    # Recordings' text stays in its region: a refused raw download of an EEA
    # recording, and an admin's legal-hold copy into the region's own storage.
    "recording.read_refused",
    "recording.exported",
    # Read-only watchers of a live view session (ops, the customer's admin).
    "viewer.watch_started",
    "viewer.watch_ended",
    # Replays of a recording in its region's viewer, audited like a watch.
    "viewer.replay_started",
    "viewer.replay_ended",
    # Each attempt to notify an org of a consent request (webhook, SNS): ids only.
    "notify.delivered",
    "notify.failed",
    # The web console's sign-ins and sign-outs, and refused sign-ins (by reason code).
    "console.signed_in",
    "console.signed_out",
    "console.signin_refused",
    # Consent requests (issue 25): asked, approved, denied, withdrawn, unanswered.
    "consent.requested",
    "consent.request_approved",
    "consent.request_denied",
    "consent.request_cancelled",
    "consent.request_expired",
]


class TestSchema:
    """The event types and their fields are a closed, consistent table."""

    def test_every_required_type_exists(self):
        """The issue's event types are all defined, plus the documented extras only."""
        assert sorted(EVENT_TYPES) == sorted(REQUIRED_TYPES + EXTRA_TYPES)

    def test_every_field_has_a_kind_and_none_is_reserved(self):
        """Each allowlisted field has a kind; none shadows a chain key."""
        for fields in EVENT_FIELDS.values():
            for name in fields:
                assert name in FIELD_KINDS
                assert name not in RESERVED

    @pytest.mark.parametrize(
        ("event", "field"),
        [("session.denied", "reasons"), ("egress.blocked", "kind"), ("session.closed", "reason"),
         ("session.issued", "basis"), ("consent.granted", "consent_id"),
         ("session.issued", "access"), ("consent.granted", "waives_eea_only"),
         ("org.setting_changed", "old_value"), ("org.setting_changed", "new_value"),
         ("consent.requested", "staff_country"), ("consent.request_approved", "consent_id"),
         ("consent.request_approved", "granted_s")],
    )  # fmt: skip
    def test_types_carry_their_specific_fields(self, event, field):
        """Denials carry reasons, blocks a kind, closes a reason, issues a basis."""
        assert field in EVENT_FIELDS[event]


class TestBuildFields:
    """Only allowlisted fields survive, normalised and scrubbed."""

    def test_unknown_type_is_refused(self):
        """An event type outside the schema raises InputError naming ``event``."""
        with pytest.raises(InputError) as caught:
            build_fields("session.exploded", {}, R)
        assert caught.value.field == "event"

    def test_unknown_and_free_text_fields_are_dropped(self):
        """Names, descriptions, user agents and error text never get in."""
        out = build_fields("auth.failed", {
            "reason": "bad_token", "name": "Jane Doe", "description": "call me",
            "user_agent": "curl/8", "error": "upstream said Jane", "region": "us-east-1",
        }, R)  # fmt: skip
        assert out == {"reason": "bad_token"}

    def test_strings_are_scrubbed_with_the_region_key(self):
        """A phone number inside an id is pseudonymised."""
        out = build_fields("session.requested", {"ticket_id": "T-7 +49 30 901820"}, R)
        assert out["ticket_id"] == f"T-7 {R.text('+49 30 901820')}"

    @pytest.mark.parametrize(
        ("field", "value", "expected"),
        [
            ("bytes_in", 12, 12),
            ("bytes_in", True, None),
            ("bytes_in", "12", None),
            ("reasons", ["a", "b"], ["a", "b"]),
            ("reasons", "a", None),
            ("source_ip", "2001:DB8::0:1", "2001:db8::1"),
            ("source_ip", "192.0.2.1", "192.0.2.1"),
            ("session_id", 42, "42"),
            ("session_id", {"x": 1}, None),
            ("started_at", datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
             "2025-01-01T10:00:00.000000Z"),
            ("started_at", datetime(2025, 1, 1, 12), None),
            ("old_value", True, True),
            ("new_value", False, False),
            ("new_value", 1, None),
            ("new_value", "true", None),
        ],
    )  # fmt: skip
    def test_values_are_normalised_by_kind(self, field, value, expected):
        """Counts must be ints, codes lists, IPs canonical, times aware and UTC."""
        event = next(e for e, fields in EVENT_FIELDS.items() if field in fields)
        assert build_fields(event, {field: value}, R).get(field) == expected

    def test_long_values_are_cut_after_scrubbing(self):
        """Over-long strings are truncated and still carry no raw number."""
        out = build_fields("config.changed", {"key": "x" * 500 + " +49 30 901820"}, R)
        assert len(out["key"]) == 200
        assert "901820" not in out["key"]

    def test_fields_keep_the_call_order(self):
        """Output order is the caller's, minus what was dropped."""
        out = build_fields("session.closed", {"reason": "x", "name": "n", "session_id": "s"}, R)
        assert list(out) == ["reason", "session_id"]

    def test_times_render_in_utc(self):
        """Aware times of any zone become UTC with a Z."""
        out = build_fields("consent.granted", {"expires_at": datetime(2025, 6, 1, tzinfo=UTC)}, R)
        assert out["expires_at"] == "2025-06-01T00:00:00.000000Z"
