"""The viewer's WebSocket protocol: strict client messages, text-free server messages."""

import contextlib
import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.errors import InputError, PayloadTooLarge
from broker.viewer import protocol
from broker.viewer.protocol import Hello, Input, Paste, Resize, Scroll, parse_client


class TestParseClient:
    """Each client message is checked field by field; errors name the field."""

    @pytest.mark.parametrize(
        ("message", "expected"),
        [
            ({"type": "hello", "token": "abc.DEF-123_"}, Hello("abc.DEF-123_")),
            ({"type": "input", "data": "ls\r"}, Input("ls\r")),
            ({"type": "input", "data": "\x1b[A"}, Input("\x1b[A")),
            ({"type": "paste", "data": "日本語\r"}, Paste("日本語\r")),
            ({"type": "resize", "cols": 120, "rows": 40}, Resize(120, 40)),
            ({"type": "scroll", "lines": -5}, Scroll(-5)),
            ({"type": "scroll", "lines": 0}, Scroll(0)),
        ],
    )
    def test_valid(self, message, expected):
        """Well-formed messages parse into their dataclass."""
        assert parse_client(json.dumps(message)) == expected

    @pytest.mark.parametrize(
        ("message", "field"),
        [
            ("not json", "message"),
            ("[1, 2]", "message"),
            ({"token": "x"}, "type"),
            ({"type": "shout"}, "type"),
            ({"type": "hello"}, "token"),
            ({"type": "hello", "token": ""}, "token"),
            ({"type": "hello", "token": "has space"}, "token"),
            ({"type": "hello", "token": "x" * 513}, "token"),
            ({"type": "hello", "token": 5}, "token"),
            ({"type": "hello", "token": "x", "extra": 1}, "extra"),
            ({"type": "hello", "token": "x", "Not A Name!": 1}, "message"),
            ({"type": "input"}, "data"),
            ({"type": "input", "data": ""}, "data"),
            ({"type": "input", "data": ["a"]}, "data"),
            ({"type": "input", "data": "x" * 4097}, "data"),
            ({"type": "paste", "data": None}, "data"),
            ({"type": "resize", "cols": 19, "rows": 40}, "cols"),
            ({"type": "resize", "cols": 401, "rows": 40}, "cols"),
            ({"type": "resize", "cols": "80", "rows": 40}, "cols"),
            ({"type": "resize", "cols": 80, "rows": 4}, "rows"),
            ({"type": "resize", "cols": 80, "rows": 201}, "rows"),
            ({"type": "resize", "cols": 80, "rows": True}, "rows"),
            ({"type": "resize", "cols": 80}, "rows"),
            ({"type": "scroll", "lines": 1.5}, "lines"),
            ({"type": "scroll", "lines": 100_001}, "lines"),
        ],
    )
    def test_invalid_names_the_field(self, message, field):
        """A bad message is refused with an error naming the bad field."""
        text = message if isinstance(message, str) else json.dumps(message)
        with pytest.raises(InputError) as caught:
            parse_client(text)
        assert caught.value.field == field
        assert caught.value.reason.startswith(f"{field}: ")

    def test_oversize_paste_refused(self):
        """A paste over 64 KiB (in UTF-8) is refused as too large."""
        with pytest.raises(PayloadTooLarge) as caught:
            parse_client(json.dumps({"type": "paste", "data": "é" * (32 * 1024 + 1)}))
        assert (caught.value.field, caught.value.code) == ("data", "too_large")

    def test_paste_at_the_cap_accepted(self):
        """Exactly 64 KiB is allowed."""
        data = "x" * protocol.MAX_PASTE_BYTES
        assert parse_client(json.dumps({"type": "paste", "data": data})) == Paste(data)

    def test_oversize_message_refused(self):
        """A text message over the size limit is refused before parsing."""
        with pytest.raises(PayloadTooLarge) as caught:
            parse_client("x" * (protocol.MAX_CLIENT_MESSAGE + 1))
        assert caught.value.field == "message"

    def test_error_never_echoes_the_value(self):
        """The reason names the field, never what the client sent in it."""
        with pytest.raises(InputError) as caught:
            parse_client(json.dumps({"type": "hello", "token": "secret token value"}))
        assert "secret" not in str(caught.value.to_dict())

    @given(st.text(max_size=200))
    def test_arbitrary_text_is_parsed_or_refused(self, text):
        """Any text either parses or raises ``InputError``: never another exception."""
        with contextlib.suppress(InputError):
            parse_client(text)


class TestServerMessages:
    """Frame headers and control messages."""

    def test_frame_header_layout(self):
        """12 bytes, big-endian: op, format, x, y, w, h, signed dy."""
        header = protocol.frame_header(protocol.OP_SCROLL, 0, (1, 2, 300, 400), -17)
        assert len(header) == 12
        assert struct.unpack(">BBHHHHh", header) == (3, 0, 1, 2, 300, 400, -17)

    def test_ready(self):
        """``ready`` carries the grid and the pixel sizes, nothing else."""
        body = json.loads(protocol.ready(80, 24, 9, 18, 22))
        assert body == {"type": "ready", "protocol": 1, "cols": 80, "rows": 24,
                        "cell_w": 9, "cell_h": 18, "status_h": 22}  # fmt: skip

    @pytest.mark.parametrize("reason", sorted(protocol.END_REASONS))
    def test_end_uses_our_text(self, reason):
        """``end`` carries the reason code and our fixed explanation."""
        body = json.loads(protocol.end(reason))
        assert body == {"type": "end", "reason": reason, "message": protocol.END_REASONS[reason]}

    def test_end_unknown_reason(self):
        """An unknown reason is a programming error, not a free-text message."""
        with pytest.raises(ValueError, match="unknown end reason"):
            protocol.end("because I said so")

    def test_error_only_codes(self):
        """``error`` takes only snake_case codes and field names."""
        assert json.loads(protocol.error("token_used")) == {"type": "error", "code": "token_used"}
        with pytest.raises(ValueError, match="snake_case"):
            protocol.error("some screen text")

    def test_error_for_input_error(self):
        """A refused message becomes ``error`` with the code and field name."""
        problem = InputError("cols", "must be an integer")
        assert json.loads(protocol.error_for(problem)) == {
            "type": "error", "code": "invalid_field", "field": "cols"
        }  # fmt: skip
