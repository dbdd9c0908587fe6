"""The console's filter forms: empty means any, ids validated, days inclusive."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from broker.console import filters as f
from broker.errors import InputError

TODAY = date(2026, 11, 25)


class TestFields:
    """Single fields of a submitted filter form."""

    @pytest.mark.parametrize("raw", ["", "   "])
    def test_empty_means_any(self, raw: str) -> None:
        """A blank field filters nothing."""
        assert f.ident({"ticket": raw}, "ticket") is None
        assert f.pick({"state": raw}, "state", ("issued",)) is None
        assert f.day({"from": raw}, "from") is None

    def test_ids_are_validated_naming_the_field(self) -> None:
        """An email where an id belongs is refused, naming the field."""
        with pytest.raises(InputError) as caught:
            f.ident({"staff": "someone@example.com"}, "staff")
        assert caught.value.field == "staff"

    def test_choice_outside_the_options(self) -> None:
        """A value the select never offered is refused."""
        with pytest.raises(InputError) as caught:
            f.pick({"region": "mars-1"}, "region", ("eu-central-1",))
        assert caught.value.field == "region"

    @pytest.mark.parametrize("raw", ["2026-13-01", "yesterday", "25.11.2026"])
    def test_bad_day(self, raw: str) -> None:
        """Anything but YYYY-MM-DD names the field."""
        with pytest.raises(InputError) as caught:
            f.day({"from": raw}, "from")
        assert caught.value.field == "from"


class TestPeriod:
    """From/to days as instants."""

    def test_default_is_the_last_days_up_to_today(self) -> None:
        """Without days: ``default_days`` days ending with today, today included."""
        first, last, start, end = f.period({}, TODAY, 14)
        assert (first, last) == (date(2026, 11, 12), TODAY)
        assert start == datetime(2026, 11, 12, tzinfo=UTC)
        assert end == datetime(2026, 11, 26, tzinfo=UTC)

    def test_to_day_is_included(self) -> None:
        """``to`` ends at the next midnight."""
        since, until = f.window({"from": "2026-11-01", "to": "2026-11-01"})
        assert (since, until) == (
            datetime(2026, 11, 1, tzinfo=UTC),
            datetime(2026, 11, 2, tzinfo=UTC),
        )

    @pytest.mark.parametrize("call", [lambda p: f.period(p, TODAY, 7), f.window])
    def test_reversed_days_are_refused(self, call) -> None:
        """``to`` before ``from`` names ``to``."""
        with pytest.raises(InputError) as caught:
            call({"from": "2026-11-10", "to": "2026-11-09"})
        assert caught.value.field == "to"

    def test_next_page_keeps_the_filters(self) -> None:
        """The next-page query keeps filled filters, drops blanks and the old cursor."""
        params = {"region": "eu-central-1", "ticket": "", "cursor": "abc", "state": "issued"}
        assert f.query_without(params, "cursor") == {"region": "eu-central-1", "state": "issued"}
