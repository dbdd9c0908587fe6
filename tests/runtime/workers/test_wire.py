"""The JSON-line messages between the main process and API workers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.errors import InputError
from broker.runtime.workers.wire import decode, encode

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


class TestWire:
    """encode / decode."""

    @given(fields=st.dictionaries(st.text(), JSON_VALUES, max_size=6))
    def test_round_trip_keeps_types(self, fields: dict[str, object]) -> None:
        """Every field comes back equal and of the same type."""
        message = {"kind": "event", "fields": fields}
        back = decode(encode(message))
        assert back == message
        for name, value in fields.items():
            assert type(back["fields"][name]) is type(value)

    def test_one_line_per_message(self) -> None:
        """A message is exactly one line, whatever its text holds."""
        line = encode({"kind": "event", "fields": {"note": "a\nb"}})
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1

    @pytest.mark.parametrize("value", [{1, 2}, datetime(2026, 11, 29, tzinfo=UTC)])
    def test_other_types_refused(self, value: object) -> None:
        """A value with no JSON form fails at the sender, not silently."""
        with pytest.raises(TypeError):
            encode({"kind": "event", "fields": {"x": value}})

    @pytest.mark.parametrize(
        ("line", "field"),
        [(b"{not json\n", "message"), (b"[1, 2]\n", "kind"), (b'{"id": 1}\n', "kind")],
    )
    def test_bad_lines_name_the_problem(self, line: bytes, field: str) -> None:
        """Garbage and kind-less messages are InputErrors naming what is wrong."""
        with pytest.raises(InputError) as caught:
            decode(line)
        assert caught.value.field == field
