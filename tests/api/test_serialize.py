"""Records and values to JSON response bodies."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from broker.api.serialize import json_response

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False),
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
