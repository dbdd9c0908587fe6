"""Tests for the identifiers the broker mints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from broker.ids import random_uuid, time_ordered_uuid

MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(8000, 1, 1), timezones=st.just(UTC)
)


class TestTimeOrderedUuid:
    """``time_ordered_uuid``: RFC 9562 version 7."""

    @given(MOMENTS)
    def test_is_a_canonical_version_7_uuid(self, at: datetime) -> None:
        """Version 7, RFC variant, lower-case canonical text."""
        text = time_ordered_uuid(at)
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122

    @given(MOMENTS)
    def test_carries_the_unix_milliseconds(self, at: datetime) -> None:
        """The top 48 bits are the moment in Unix milliseconds."""
        parsed = uuid.UUID(time_ordered_uuid(at))
        assert parsed.int >> 80 == int(at.timestamp() * 1000)

    @given(MOMENTS, st.integers(min_value=1, max_value=10**9))
    def test_a_later_millisecond_sorts_after(self, at: datetime, later_ms: int) -> None:
        """Ids of later moments sort after earlier ones, as text too (why v7 is used)."""
        later = at + timedelta(milliseconds=later_ms)
        assume(later.year < 8000)
        assert time_ordered_uuid(at) < time_ordered_uuid(later)

    def test_ids_of_one_millisecond_differ(self) -> None:
        """74 random bits: 10,000 ids minted in the same millisecond are all distinct."""
        at = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
        ids = {time_ordered_uuid(at) for _ in range(10_000)}
        assert len(ids) == 10_000


class TestRandomUuid:
    """``random_uuid``: RFC 9562 version 4."""

    def test_is_a_canonical_version_4_uuid(self) -> None:
        """Version 4, RFC variant, canonical text; and every variant digit occurs."""
        variants = set()
        for _ in range(2_000):
            text = random_uuid()
            parsed = uuid.UUID(text)
            assert str(parsed) == text
            assert parsed.version == 4
            assert parsed.variant == uuid.RFC_4122
            variants.add(text[19])
        assert variants == set("89ab")

    def test_ids_differ(self) -> None:
        """10,000 ids are all distinct."""
        assert len({random_uuid() for _ in range(10_000)}) == 10_000
