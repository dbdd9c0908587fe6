"""The JSON-line messages between the main process and API workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.errors import InputError
from broker.workers.wire import decode, encode

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
AWARE = st.datetimes(timezones=st.just(UTC)) | st.datetimes(
    timezones=st.sampled_from([timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
)


class TestWire:
    """encode / decode."""

    @given(fields=st.dictionaries(st.text(), JSON_VALUES | AWARE, max_size=6))
    def test_round_trip_keeps_types(self, fields: dict[str, object]) -> None:
        """Every field comes back equal and of the same type, datetimes included."""
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

    def test_other_types_refused(self) -> None:
        """A value with no wire form fails at the sender, not silently."""
        with pytest.raises(TypeError, match="set"):
            encode({"kind": "event", "fields": {"x": {1, 2}}})

    @pytest.mark.parametrize(
        ("line", "field"),
        [(b"{not json\n", "message"), (b"[1, 2]\n", "kind"), (b'{"id": 1}\n', "kind")],
    )
    def test_bad_lines_name_the_problem(self, line: bytes, field: str) -> None:
        """Garbage and kind-less messages are InputErrors naming what is wrong."""
        with pytest.raises(InputError) as caught:
            decode(line)
        assert caught.value.field == field

    def test_naive_datetime_stays_naive(self) -> None:
        """A tagged time comes back exactly as sent (no zone is invented)."""
        moment = datetime(2026, 11, 29, 7, 0, 1, 5)  # naive on purpose
        assert decode(encode({"kind": "x", "at": moment}))["at"] == moment
