"""Support windows: Europe/Berlin 09:00-18:00 on working days, across DST and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.policy import next_open, open_now, support_window
from broker.policy.windows import BERLIN, OPENS

EASTER_2026 = frozenset({date(2026, 4, 3), date(2026, 4, 6)})  # Good Friday, Easter Monday


def at(text: str) -> datetime:
    """An aware datetime from ISO 8601 text."""
    return datetime.fromisoformat(text)


class TestSupportWindow:
    """eea_only product tickets of severity 2-4 follow the Berlin working day."""

    @pytest.mark.parametrize(
        ("when", "is_open", "opens"),
        [
            # exactly at the edges: 09:00 open, 18:00 closed
            ("2026-05-04T09:00:00+02:00", True, None),
            ("2026-05-04T08:59:59+02:00", False, "2026-05-04T09:00:00+02:00"),
            ("2026-05-04T17:59:59+02:00", True, None),
            ("2026-05-04T18:00:00+02:00", False, "2026-05-05T09:00:00+02:00"),
            # spring switch (Sun 2026-03-29): CET before, CEST after
            ("2026-03-27T08:00:00Z", True, None),  # 09:00 CET
            ("2026-03-27T17:00:00Z", False, "2026-03-30T09:00:00+02:00"),  # 18:00 CET
            ("2026-03-29T01:30:00Z", False, "2026-03-30T09:00:00+02:00"),  # 03:30 CEST
            ("2026-03-30T06:59:59Z", False, "2026-03-30T09:00:00+02:00"),
            ("2026-03-30T07:00:00Z", True, None),  # 09:00 CEST
            ("2026-03-30T15:59:59Z", True, None),
            ("2026-03-30T16:00:00Z", False, "2026-03-31T09:00:00+02:00"),  # 18:00 CEST
            # autumn switch (Sun 2026-10-25): CEST before, CET after, 02:xx happens twice
            ("2026-10-23T07:00:00Z", True, None),  # 09:00 CEST
            ("2026-10-23T16:00:00Z", False, "2026-10-26T09:00:00+01:00"),  # 18:00 CEST
            ("2026-10-25T00:30:00Z", False, "2026-10-26T09:00:00+01:00"),  # first 02:30
            ("2026-10-25T01:30:00Z", False, "2026-10-26T09:00:00+01:00"),  # second 02:30
            ("2026-10-26T07:59:59Z", False, "2026-10-26T09:00:00+01:00"),
            ("2026-10-26T08:00:00Z", True, None),  # 09:00 CET
            ("2026-10-26T17:00:00Z", False, "2026-10-27T09:00:00+01:00"),  # 18:00 CET
            # weekends
            ("2026-05-02T12:00:00+02:00", False, "2026-05-04T09:00:00+02:00"),
            ("2026-05-03T23:59:59+02:00", False, "2026-05-04T09:00:00+02:00"),
            ("2026-05-01T22:00:00Z", False, "2026-05-04T09:00:00+02:00"),  # Sat 00:00 Berlin
            ("2026-05-03T22:00:00Z", False, "2026-05-04T09:00:00+02:00"),  # Mon 00:00 Berlin
        ],
    )
    def test_windows(self, when, is_open, opens):
        """Open or closed, and when closed the next 09:00 Berlin with its offset."""
        window = support_window("eea_only", "product", 3, at(when))
        assert window.open_now is is_open
        assert window.to_dict()["next_open"] == opens

    @pytest.mark.parametrize(
        ("when", "opens"),
        [
            ("2026-04-02T18:00:00+02:00", "2026-04-07T09:00:00+02:00"),
            ("2026-04-03T10:00:00+02:00", "2026-04-07T09:00:00+02:00"),
            ("2026-04-06T08:00:00+02:00", "2026-04-07T09:00:00+02:00"),
        ],
    )
    def test_holidays(self, when, opens):
        """Holidays are closed all day; the next window skips them and the weekend."""
        window = support_window("eea_only", "product", 2, at(when), EASTER_2026)
        assert not window.open_now
        assert window.to_dict()["next_open"] == opens

    def test_holiday_is_open_without_the_list(self):
        """Without a holiday list, Good Friday is a working day."""
        assert support_window("eea_only", "product", 2, at("2026-04-03T10:00:00+02:00")).open_now

    @pytest.mark.parametrize(
        ("tier", "scope", "severity"),
        [
            ("eea_only", "product", 1),  # severity 1: 24/7
            ("standard", "product", 3),  # standard: global service levels
            ("eea_only", "cas", 4),  # excluded scope falls back to standard
        ],
    )
    def test_always_open(self, tier, scope, severity):
        """Severity 1 and standard are open on a Sunday night and on holidays."""
        window = support_window(tier, scope, severity, at("2026-04-05T03:00:00+02:00"))
        assert window.to_dict() == {"open_now": True, "next_open": None}

    @pytest.mark.parametrize(
        ("tier", "scope", "severity", "when"),
        [
            ("gold", "product", 3, "2026-05-04T10:00:00+02:00"),
            ("eea_only", "billing", 3, "2026-05-04T10:00:00+02:00"),
            ("eea_only", "product", 7, "2026-05-04T10:00:00+02:00"),
            ("standard", "product", 3, "2026-05-04T10:00:00"),
        ],
    )
    def test_unknown_inputs(self, tier, scope, severity, when):
        """Unknown tier, scope, severity or a naive time: closed, no opening guessed."""
        window = support_window(tier, scope, severity, at(when))
        assert (window.open_now, window.next_open) == (False, None)

    def test_no_working_day_in_reach(self):
        """If every day ahead is a holiday, no opening is invented."""
        start = date(2026, 5, 4)
        every_day = frozenset(start + timedelta(days=n) for n in range(800))
        assert (
            next_open("eea_only", "product", 3, at("2026-05-04T10:00:00+02:00"), every_day) is None
        )

    def test_wrappers(self):
        """open_now and next_open agree with support_window."""
        when = at("2026-05-02T12:00:00+02:00")
        assert not open_now("eea_only", "product", 3, when)
        assert next_open("eea_only", "product", 3, when) == at("2026-05-04T09:00:00+02:00")


class TestWindowProperties:
    """Hypothesis: a closed window always names a real, later opening."""

    @given(
        st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2032, 1, 1)).map(
            lambda naive: naive.replace(tzinfo=UTC)
        ),
        st.sets(st.dates(min_value=date(2024, 1, 1), max_value=date(2032, 2, 1)), max_size=20),
    )
    def test_next_open_is_a_later_opening(self, when, holidays):
        """next_open is after ``at``, 09:00 Berlin on a working day, and open."""
        days = frozenset(holidays)
        window = support_window("eea_only", "product", 3, when, days)
        if window.open_now:
            assert window.next_open is None
            return
        opening = window.next_open
        assert opening is not None
        assert opening > when
        local = opening.astimezone(BERLIN)
        assert local.time() == OPENS
        assert local.weekday() < 5
        assert local.date() not in days
        assert support_window("eea_only", "product", 3, opening, days).open_now
