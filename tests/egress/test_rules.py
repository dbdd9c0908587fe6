"""Tests for the egress filter's patterns (``broker.egress.rules``)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.egress import rules

PLAIN_SAFE = re.compile(
    rules._TEXT.replace(b"(?>", b"(?:")
    + rb"(?:(?:"
    + b"|".join(rules._SAFE_ONE)
    + rb")"
    + rules._TEXT.replace(b"(?>", b"(?:")
    + rb")*"
)
"""``SAFE`` with ordinary greedy repeats: slower, but matched correctly by every
CPython. Nothing follows the repeat, so its first (greediest) match is the
answer, and the two must agree on every input."""


class TestSafe:
    """``SAFE``: the run the filter may pass untouched."""

    @pytest.mark.parametrize(
        ("text", "end"),
        [
            (b"**", 0),
            (b"::", 0),
            (b"*:", 1),
            (b"a*", 1),
            (b"x*y", 3),
            (b"a **B0", 2),
            (b"before **\x18B00", 7),
            (b"a::TRZSZ", 1),
            (b"ab\x1b[1mcd*e:f**", 12),
            (b"\x1b]0;x", 5),
            (b"\xc2\x85ab", 4),
        ],
    )
    def test_stops_before_a_trigger(self, text, end):
        """A ``*`` or ``:`` that may start a trigger ends the run, never inside it.

        CPython before 3.11.5 matched ``(...)*+`` one byte too far here
        (gh-100061); Debian 12's python3.11 is such a CPython.
        """
        match = rules.SAFE.match(text)
        assert match is not None
        assert match.end() == end

    @given(
        st.binary(max_size=60)
        | st.lists(st.sampled_from(list(b"*:ab\x1b[m]0;\xc2\x85\x18B")), max_size=40).map(bytes)
    )
    def test_agrees_with_plain_greedy_repeats(self, text):
        """The atomic groups change speed only, never where the run ends."""
        safe, plain = rules.SAFE.match(text), PLAIN_SAFE.match(text)
        assert safe is not None
        assert plain is not None
        assert safe.end() == plain.end()
