"""Compact JSON bytes: orjson where it can, the standard encoder where it refuses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.compact_json import STANDARD_MARK, dumps, loads

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
"""JSON without floats: big integers and any text (lone surrogates too) included."""
PLAIN = st.integers(-(2**63), 2**63 - 1) | st.from_regex(r"[ -~]*", fullmatch=True)
"""Values both encoders write: 64-bit integers and printable ASCII text."""


@dataclass
class _Point:
    x: int


class TestDumps:
    """``dumps``."""

    @given(JSON_VALUES)
    def test_round_trip(self, value: object) -> None:
        """The standard decoder reads back exactly what was written, on one line."""
        written = dumps(value)
        assert json.loads(written) == value
        assert b"\n" not in written

    @given(st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), PLAIN, max_size=6))
    def test_same_bytes_as_the_standard_encoder_for_plain_ascii(
        self, value: dict[str, object]
    ) -> None:
        """Where both can write it, the bytes are ``json.dumps``' compact form."""
        assert dumps(value) == json.dumps(value, separators=(",", ":")).encode()

    @given(JSON_VALUES)
    def test_marked_round_trip_keeps_types(self, value: object) -> None:
        """``loads`` reads back a marked value exactly: an integer past 64 bits stays an int."""
        back = loads(dumps(value, mark=True))
        assert back == value
        assert type(back) is type(value)

    def test_only_the_standard_encoders_output_is_marked(self) -> None:
        """orjson's output is never marked; the fallback's is, and only when asked."""
        assert dumps([2**63 - 1], mark=True) == b"[9223372036854775807]"
        assert dumps([2**64], mark=True) == STANDARD_MARK + b"[18446744073709551616]"
        assert dumps([2**64]) == b"[18446744073709551616]"
        assert loads(dumps({"n": 2**64}, mark=True)) == {"n": 2**64}

    @pytest.mark.parametrize(
        "value", [{1, 2}, datetime(2026, 11, 29, tzinfo=UTC), _Point(1), b"bytes"]
    )
    def test_what_json_cannot_carry_is_refused(self, value: object) -> None:
        """A datetime or dataclass is not written orjson's own way, but refused."""
        with pytest.raises(TypeError):
            dumps({"x": value})
