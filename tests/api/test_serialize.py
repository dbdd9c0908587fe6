"""Records and values to JSON response bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.api.serialize import iso, json_response

# JSON has no NaN or infinity (orjson writes null, the standard encoder a non-JSON token).
NUMBERS = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


class TestJsonResponse:
    """``json_response``: orjson, with the standard encoder for what orjson refuses."""

    @given(JSON_VALUES)
    def test_body_reads_back_as_the_value(self, value: object) -> None:
        """Any JSON value, even a 100-bit integer or a lone surrogate, reads back equal."""
        response = json_response(value)
        assert isinstance(response.body, bytes)
        assert json.loads(response.body) == value

    def test_status_and_content_type(self) -> None:
        """Status and media type are the caller's."""
        response = json_response({"a": 1}, status=201, content_type="application/problem+json")
        assert response.status == 201
        assert response.content_type == "application/problem+json"

    def test_beyond_64_bits_falls_back(self) -> None:
        """orjson refuses 2**64; the fallback writes it exactly."""
        assert json_response({"n": 2**64}).body == b'{"n": 18446744073709551616}'


class TestIso:
    """``iso``: any aware time as UTC with a ``Z``."""

    @pytest.mark.parametrize(
        ("at", "text"),
        [
            (datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01T00:00:00Z"),
            (datetime(2026, 1, 1, tzinfo=timezone.utc), "2026-01-01T00:00:00Z"),  # noqa: UP017 - this spelling is the case
            (datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=2))), "2025-12-31T23:00:00Z"),
            (datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC), "2026-01-01T00:00:00.000005Z"),
            (None, None),
        ],
    )
    def test_utc_with_z(self, at: datetime | None, text: str | None) -> None:
        """Other offsets are converted; UTC however spelt is written as is."""
        assert iso(at) == text
