"""The shared field validators: what each field accepts, and what never gets in.

Each value is accepted in the domain the broker can represent, or refused with
an ``InputError`` naming the field; no other exception ever escapes."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from broker import validate as v
from broker.errors import InputError

# Every offset RFC 3339 can write (whole minutes within a day), and some it cannot (seconds).
OFFSETS = st.one_of(
    st.integers(-(24 * 60) + 1, 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m))),
    st.integers(-(24 * 3600) + 1, 24 * 3600 - 1).map(lambda s: timezone(timedelta(seconds=s))),
)
CONFUSABLES = (
    *"\u0430\u0435\u043e\u0440\u0441\u0445",  # Cyrillic a e o p c x
    "\uff34",  # fullwidth T
    "\uff11",  # fullwidth 1
    *"\u200b\u200d\ufeff",  # zero-width space, joiner, no-break space
    "\u0131",  # dotless i
    "\u00df",  # sharp s
)
"""Cyrillic lookalikes, fullwidth forms, zero-width characters and letters that case-fold."""


def _outcome(parse, *args):
    """``(value, None)`` when ``parse`` accepts, ``(None, error)`` when it refuses."""
    try:
        return parse(*args), None
    except InputError as error:
        return None, error


def offset_text(offset: timedelta) -> str:
    """``offset`` as ISO 8601 writes it: ``+HH:MM``, with ``:SS`` when it has seconds."""
    sign = "-" if offset < timedelta(0) else "+"
    total = abs(int(offset.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIDrlNhXzp5C6e2zQgUC5bVnmN7YqTjG9Yb4l3tq9V4vx"


class TestIdentifier:
    """validate.identifier: the IDENTIFIER pattern, and no phone number or email."""

    @pytest.mark.parametrize("value", ["T-1001", "eng-de-1", "acme_de.x:1", "a" * 128])
    def test_accepts_ids(self, value: str) -> None:
        """Ids of the safe alphabet pass unchanged."""
        assert v.identifier(value, "id") == value

    @pytest.mark.parametrize(
        "value",
        ["Anna Müller", "a/b", "a" * 129, "", "..", "-", "anna@example.com", "+4930123456",
         "004930123456789", "0301234567", "2015550123"],
    )  # fmt: skip
    def test_refuses_non_ids_and_pi(self, value: str) -> None:
        """Spaces, slashes, overlong ids and ids that read as phone or email are refused."""
        with pytest.raises(InputError) as caught:
            v.identifier(value, "ticket_id")
        assert caught.value.field == "ticket_id"
        assert len(value) < 3 or value not in str(caught.value.to_dict())  # no echo


class TestHostname:
    """validate.hostname: a DNS name or an IP address."""

    @pytest.mark.parametrize(
        ("value", "kept"),
        [("app-1.internal", "app-1.internal"), ("127.0.0.1", "127.0.0.1"),
         ("::1", "::1"), ("localhost", "localhost"), ("a.b.c.", "a.b.c.")],
    )  # fmt: skip
    def test_accepts_hosts(self, value: str, kept: str) -> None:
        """Host names and IP literals pass."""
        assert v.hostname(value, "host") == kept

    @pytest.mark.parametrize(
        "value",
        ["Anna Müller", "anna@example.com", "-bad.example", "a..b", "x" * 254,
         "host with space", "030 1234567", "0301234567", "call-+49301234567"],
    )  # fmt: skip
    def test_refuses_free_text(self, value: str) -> None:
        """Names, emails, phone numbers and malformed names are refused, naming the field."""
        with pytest.raises(InputError) as caught:
            v.hostname(value, "targets[0].host")
        assert caught.value.field == "targets[0].host"


class TestKeyLine:
    """validate.key_line: the key's type and base64; the comment dropped."""

    def test_comment_is_dropped(self) -> None:
        """A comment (free text, often an email) never survives."""
        line = f"ssh-ed25519 {KEY} anna.mueller@laptop"
        assert v.key_line(line, "host_key") == f"ssh-ed25519 {KEY}"

    @pytest.mark.parametrize("value", ["ssh-ed25519", "Anna Müller", "ssh-ed25519 not*base64"])
    def test_refuses_non_keys(self, value: str) -> None:
        """Anything that is not a key line is refused."""
        with pytest.raises(InputError):
            v.key_line(value, "host_key")


class TestRequestId:
    """validate.request_id: a UUID or 32-64 hex digits, else None."""

    @pytest.mark.parametrize(
        "value", ["3f0c8a52-1b2c-4d5e-8f90-123456789abc", "0123456789abcdef" * 2, "A" * 64]
    )
    def test_kept(self, value: str) -> None:
        """Generated ids pass as they are."""
        assert v.request_id(value) == value

    @pytest.mark.parametrize(
        "value", [None, "", "Anna Müller", "req-1", "+49 30 1234567", "a" * 65, "abc123"]
    )
    def test_replaced(self, value: str | None) -> None:
        """Anything else is not kept (the middleware generates one)."""
        assert v.request_id(value) is None


class TestTimestamp:
    """``timestamp``: ISO 8601 with an offset, converted to UTC, inside the documented range."""

    @given(moment=st.datetimes(), offset=OFFSETS)
    @example(moment=datetime(9999, 12, 31, 23, 59, 59), offset=timezone(timedelta(hours=-23)))
    @example(moment=datetime(1, 1, 1), offset=timezone(timedelta(hours=23, minutes=59)))
    def test_every_time_with_every_offset_is_utc_in_range_or_refused(self, moment, offset):
        """Accepted means the same instant in UTC within the range; the rest is an InputError."""
        text = moment.isoformat() + offset_text(offset.utcoffset(None))
        parsed, error = _outcome(v.timestamp, text, "at")
        writable = offset.utcoffset(None) % timedelta(minutes=1) == timedelta(0)
        if error is not None:
            assert error.field == "at"
            assert not (1970 <= moment.year <= 8999 and writable)
            return
        assert parsed.tzinfo is UTC
        assert 1970 <= moment.year <= 8999
        assert parsed == moment.replace(tzinfo=offset)

    @pytest.mark.parametrize(
        "text",
        [
            "9999-12-31T23:59:59-23:59",  # past datetime.max once in UTC
            "0001-01-01T00:00:00+23:59",  # before datetime.min once in UTC
            "9000-01-01T00:00:00Z",  # the first refused year
            "1969-12-31T23:59:59Z",
            "2026-11-25T10:00:00+24:00",
            "2026-02-29T10:00:00Z",  # not a leap year
            "2026-11-25 10:00:00Z",  # ISO 8601, not RFC 3339
            "20261125T100000Z",
            "2026-11-25T10:00:00Z\n",
            "2026-11-25T10:00:00",  # naive
            "\uff12\uff10\uff12\uff16-11-25T10:00:00Z",  # fullwidth digits
            "2026-11-25T10:00:00Z" + " " * 60,
            "",
        ],
    )
    def test_refused(self, text):
        """Out of range, naive, non-ASCII or over-long: an InputError naming the field."""
        with pytest.raises(InputError) as caught:
            v.timestamp(text, "expires_at")
        assert caught.value.field == "expires_at"

    def test_edges_accepted(self):
        """The extreme years with the extreme offsets are accepted, as UTC."""
        assert v.timestamp("1970-01-01T00:00:00+23:59", "t") == datetime(
            1969, 12, 31, 0, 1, tzinfo=UTC
        )
        assert v.timestamp("8999-12-31T23:59:59.999999-23:59", "t") == datetime(
            9000, 1, 1, 23, 58, 59, 999999, tzinfo=UTC
        )


class TestDigits:
    """``digits``: ASCII digits only, bounded; never a ValueError from ``int``."""

    @given(st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=25))
    @example("²")  # isdigit() says yes, int() says no
    @example("١٢")  # int() says 12
    @example("9" * 40)
    def test_unicode_digit_classes(self, text):
        """Only all-ASCII digits within bounds are accepted; everything else names the field."""
        number, error = _outcome(v.digits, text, "limit", 1, 1000)
        if error is not None:
            assert error.field == "limit"
            assert not (text.isascii() and text.isdigit() and 1 <= int(text) <= 1000)
            return
        assert text.isascii()
        assert number == int(text)

    @given(st.integers())
    def test_signed_when_low_is_negative(self, number):
        """A leading minus is accepted only where the bounds allow negatives."""
        try:
            assert v.digits(str(number), "c", -(2**63), 2**63 - 1) == number
        except InputError:
            assert not -(2**63) <= number < 2**63
        if number < 0:
            with pytest.raises(InputError):
                v.digits(str(number), "c", 0, 10)

    def test_query_int_default(self):
        """Absent means the default; present is parsed."""
        assert v.query_int({}, "limit", 1, 5, 3) == 3
        assert v.query_int({"limit": "5"}, "limit", 1, 5, 3) == 5


class TestIdentifierConfusables:
    """``identifier``: confusables never pass for the ASCII id they resemble."""

    @given(
        base=st.from_regex(r"[a-zT][a-zT._:-]{0,19}", fullmatch=True),  # no digits: no phone
        position=st.integers(0, 20),
        char=st.sampled_from(CONFUSABLES),
    )
    def test_confusables_refused(self, base, position, char):
        """An id with any lookalike, fullwidth or zero-width character is refused."""
        assert v.identifier(base, "id") == base
        spoof = base[:position] + char + base[position:]
        with pytest.raises(InputError) as caught:
            v.identifier(spoof, "id")
        assert caught.value.field == "id"

    @given(st.text(min_size=1, max_size=200))
    def test_anything_is_an_ascii_id_or_refused(self, text):
        """Accepted ids are NFKC-stable ASCII of the documented alphabet."""
        try:
            value = v.identifier(text, "id")
        except InputError:
            return
        assert value.isascii()
        assert unicodedata.normalize("NFKC", value) == value
        assert len(value) <= v.MAX_ID_LENGTH


class TestText:
    """Free text: bounded, not blank, no control characters but newline and tab; trimmed."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("  fix the export\n", "fix the export"),
            ("line one\nline two\tand a tab", "line one\nline two\tand a tab"),
            ("x" * v.MAX_TEXT, "x" * v.MAX_TEXT),
        ],
    )
    def test_accepts_and_trims(self, value: str, expected: str) -> None:
        """Text a person wrote is returned without surrounding white space."""
        assert v.text(value, "reason") == expected

    @pytest.mark.parametrize(
        "value",
        ["", "   ", "\n\t", "x" * (v.MAX_TEXT + 1), "bell\x07", "esc\x1b[31m", "nul\x00",
         "c1\x9b", "line\u2028sep", 42, None],
    )  # fmt: skip
    def test_refuses_naming_the_field(self, value: object) -> None:
        """Blank, overlong, control characters and non-strings name the field."""
        with pytest.raises(InputError) as caught:
            v.text(value, "reason")
        assert caught.value.field == "reason"
