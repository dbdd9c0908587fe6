"""Tests for the terminal output egress filter (``broker.egress.filter``)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.egress.blocked import Blocked, Kind
from broker.egress.filter import MAX_HELD, MAX_STRING, OutputFilter
from broker.egress.rules import ALLOWED_OSC

Event = tuple[str, int, int]


def run(chunks: list[bytes]) -> tuple[bytes, list[Event]]:
    """Feed ``chunks`` then flush; return the output and (kind, offset, length) events."""
    filt = OutputFilter()
    out, events = b"", []
    for chunk in chunks:
        passed, blocked = filt.feed(chunk)
        assert filt.pending <= MAX_HELD
        out += passed
        events += blocked
    passed, blocked = filt.flush()
    assert filt.pending == 0
    return out + passed, merged([(str(b.kind), b.offset, b.length) for b in events + blocked])


def merged(events: list[Event]) -> list[Event]:
    """Adjacent runs of one kind as one (how they group may follow read boundaries)."""
    result: list[Event] = []
    for kind, offset, length in events:
        if result and result[-1][0] == kind and sum(result[-1][1:]) == offset:
            _, start, size = result.pop()
            result.append((kind, start, size + length))
        else:
            result.append((kind, offset, length))
    return result


def splits(data: bytes) -> list[list[bytes]]:
    """The stream whole, cut once at every point, and one byte at a time."""
    once = [[data[:i], data[i:]] for i in range(1, len(data))]
    return [[data], *once, [data[i : i + 1] for i in range(len(data))]]


def removed(data: bytes, events: list[Event]) -> bytes:
    """``data`` with every reported run cut out."""
    keep, at = [], 0
    for _kind, offset, length in events:
        assert offset >= at
        assert length > 0
        keep.append(data[at:offset])
        at = offset + length
    return b"".join(keep) + data[at:]


MALICIOUS = [
    ("osc52-bel", b"\x1b]52;c;SGVsbG8=\x07", "osc52"),
    ("osc52-st", b"\x1b]52;c;SGVsbG8=\x1b\\", "osc52"),
    ("osc52-c1-st", b"\x1b]52;c;SGVsbG8=\x9c", "osc52"),
    ("osc52-utf8-st", b"\x1b]52;c;SGVsbG8=\xc2\x9c", "osc52"),
    ("osc52-read", b"\x1b]52;c;?\x07", "osc52"),
    ("osc52-primary", b"\x1b]52;p;QQ==\x1b\\", "osc52"),
    ("osc52-zero-padded", b"\x1b]0052;c;QQ==\x07", "osc52"),
    ("osc52-8bit-bel", b"\x9d52;c;QQ==\x07", "osc52-c1"),
    ("osc52-8bit-st", b"\x9d52;c;QQ==\x9c", "osc52-c1"),
    ("osc52-8bit-esc-st", b"\x9d52;c;QQ==\x1b\\", "osc52-c1"),
    ("osc52-8bit-read", b"\x9d52;c;?\x9c", "osc52-c1"),
    ("osc52-utf8c1-st", b"\xc2\x9d52;c;QQ==\xc2\x9c", "osc52-c1"),
    ("osc52-utf8c1-bel", b"\xc2\x9d52;c;QQ==\x07", "osc52-c1"),
    ("osc52-utf8c1-esc-st", b"\xc2\x9d52;c;?\x1b\\", "osc52-c1"),
    ("tmux-osc52", b"\x1bPtmux;\x1b\x1b]52;c;QQ==\x07\x1b\\", "dcs-passthrough"),
    ("tmux-osc52-st", b"\x1bPtmux;\x1b\x1b]52;c;QQ==\x1b\x1b\\\x1b\\", "dcs-passthrough"),
    ("tmux-8bit", b"\x90tmux;\x1b\x1b]52;c;QQ==\x07\x9c", "dcs-passthrough"),
    ("tmux-utf8c1", b"\xc2\x90tmux;\x1b\x1b\x9d52;c;QQ==\x07\xc2\x9c", "dcs-passthrough"),
    ("screen-osc52", b"\x1bP\x1b]52;c;QQ==\x07\x1b\\", "dcs-passthrough"),
    ("iterm2-file", b"\x1b]1337;File=name=YS50eHQ=;size=4;inline=0:QUFBQQ==\x07", "iterm2-file"),
    ("iterm2-multipart", b"\x1b]1337;MultipartFile=name=YQ==;size=4\x07", "iterm2-file"),
    ("iterm2-copy", b"\x1b]1337;Copy=:QQ==\x07", "iterm2-clipboard"),
    ("iterm2-copytoclipboard", b"\x1b]1337;CopyToClipboard=\x07", "iterm2-clipboard"),
    ("iterm2-other", b"\x1b]1337;SetMark\x07", "iterm2-other"),
    ("kitty-file", b"\x1b]5113;ac=send;id=1;n=YQ==\x1b\\", "kitty-file"),
    ("kitty-clipboard", b"\x1b]5522;type=write:mime=dGV4dA==;QQ==\x1b\\", "kitty-clipboard"),
    ("kitty-cmd", b'\x1bP@kitty-cmd{"cmd":"ls","version":[0,26,0]}\x1b\\', "kitty-cmd"),
    ("zmodem-sz", b"**\x18B00000000000000\r\x8a\x11", "zmodem"),
    ("zmodem-rz", b"**\x18B0100000023be50\r\n\x11", "zmodem"),
    ("zmodem-visible-rz", b"**B0100000023be50\r\n", "zmodem"),
    ("zmodem-visible-sz", b"**B00000000000000\r\n", "zmodem"),
    ("zmodem-binary", b"\x18A", "zmodem"),
    ("zmodem-zcommand", b"**\x18B120000000055a1\r\n", "zmodem"),
    ("trzsz-esc7", b"\x1b7\x07::TRZSZ:TRANSFER:S:1.1.6:1234567890123\r\n", "trzsz"),
    ("trzsz-plain", b"::TRZSZ:TRANSFER:R:1.1.6:0123456789012:0\r\n", "trzsz"),
    ("dcs-decrqss", b"\x1bP$qm\x1b\\", "dcs-other"),
    ("dcs-sixel", b"\x1bPq#0;2;0;0;0#0~~@@\x1b\\", "dcs-other"),
    ("apc-kitty-graphics", b"\x1b_Gf=100,a=T;QUFB\x1b\\", "apc"),
    ("apc-8bit", b"\x9fsecret\x9c", "apc"),
    ("pm", b"\x1b^secret\x1b\\", "pm"),
    ("sos", b"\x1bXsecret\x1b\\", "sos"),
    ("sos-utf8c1", b"\xc2\x98secret\xc2\x9c", "sos"),
    ("osc-notify", b"\x1b]9;hello\x07", "osc-other"),
    ("osc-777", b"\x1b]777;notify;a;b\x1b\\", "osc-other"),
    ("osc-letter", b"\x1b]L;icon\x07", "osc-other"),
    ("osc-no-number", b"\x1b];x\x07", "osc-other"),
    ("osc-c0-in-number", b"\x1b]5\n2;c;QQ==\x07", "osc-other"),
]

BENIGN = [
    ("sgr", b"\x1b[01;34mdirname\x1b[0m  "),
    ("sgr-truecolor", b"\x1b[38;2;255;0;0mred\x1b[m"),
    ("sgr-colon", b"\x1b[38:2::255:0:0mred\x1b[0m"),
    ("cursor", b"\x1b[10;20H\x1b[2J\x1b[K\x1b[?25l\x1b[?1049h\x1b[3A\x1b[s\x1b[u"),
    ("decsc-decrc", b"\x1b7saved\x1b8"),
    ("charset", b"\x1b(B\x1b)0\x1b#8\x1b=\x1b>\x1bM"),
    ("title-bel", b"\x1b]0;user@host: ~/src\x07"),
    ("title-st", "\x1b]2;日本語のタイトル\x1b\\".encode()),
    ("icon", b"\x1b]1;icon\x07"),
    ("title-8bit", b"\x9d2;title\x9c"),
    ("hyperlink", b"\x1b]8;id=1;https://example.com/a?b=c\x1b\\link\x1b]8;;\x1b\\"),
    ("palette", b"\x1b]4;1;rgb:ff/00/00\x07"),
    ("colour-query", b"\x1b]10;?\x07\x1b]11;#000000\x1b\\\x1b]12;red\x07"),
    ("colour-reset", b"\x1b]104\x07\x1b]110\x07\x1b]111\x1b\\\x1b]112;\x07"),
    ("cwd", b"\x1b]7;file://host/home/u\x07"),
    ("shell-marks", b"\x1b]133;A\x07$ \x1b]133;B\x07ls\x1b]133;C\x07\x1b]133;D;0\x07"),
    ("vscode-marks", b"\x1b]633;E;ls -la\x07\x1b]633;P;Cwd=/tmp\x07"),
    ("cjk", "中文字符\uff0c日本語、한국어".encode()),
    ("emoji", "😀👍🏽👨‍👩‍👧 🇩🇪".encode()),
    ("combining", "e\u0301 a\u0308 \u0915\u094d\u0937".encode()),
    ("latin1-range", "° © « » ± µ ¿".encode()),
    ("nbsp", "a\u00a0b".encode()),
    ("c1-csi-utf8", b"\xc2\x9b1m"),
    ("stars-colons", b"*bold* 12:30:45 a::b std::vector *** **x ::"),
    ("bell-and-cr", b"done\x07\r\n\ttab\x08"),
    ("latin1-bytes", b"caf\xe9 na\xefve"),
    ("can-sub", b"a\x18b\x1ac"),
    ("binary-noise", b"\xff\xfe\x80\x81\xc0\xaf\x9b\x9c\xed\xa0\x80"),
]


class TestFamilies:
    """Every blocked family, at every split point."""

    @pytest.mark.parametrize(("name", "seq", "kind"), MALICIOUS, ids=[m[0] for m in MALICIOUS])
    def test_removed_at_every_split(self, name, seq, kind):
        """The sequence is cut out whole, reported once, at every split point."""
        data = b"before " + seq + b" after"
        for chunks in splits(data):
            out, events = run(chunks)
            assert out == b"before  after", (name, chunks)
            assert events == [(kind, 7, len(seq))], (name, chunks)

    @pytest.mark.parametrize(("name", "seq", "kind"), MALICIOUS, ids=[m[0] for m in MALICIOUS])
    def test_kind_is_stable_name(self, name, seq, kind):
        """Every reported kind is a member of ``Kind``."""
        assert Kind(kind).value == kind


class TestBenign:
    """What must pass byte-identical."""

    @pytest.mark.parametrize(("name", "seq"), BENIGN, ids=[b[0] for b in BENIGN])
    def test_identical_at_every_split(self, name, seq):
        """The sequence passes unchanged and nothing is reported, at every split."""
        data = b"x " + seq + b" y"
        for chunks in splits(data):
            assert run(chunks) == (data, []), (name, chunks)

    def test_allowlist_is_the_documented_one(self):
        """The OSC allowlist is titles, colours, cwd, hyperlinks and shell marks."""
        assert {0, 1, 2, 4, 7, 8, 10, 11, 12, 104, 110, 111, 112, 133, 633} == ALLOWED_OSC

    def test_cjk_with_c1_continuation_bytes(self):
        """Continuation bytes 0x9d / 0x90 / 0x9f inside valid UTF-8 are text."""
        text = "丝 吐 谝 😟 \U0001d400".encode()
        assert any(b in text for b in (0x9D, 0x90, 0x9F))
        assert run([text]) == (text, [])


class TestEdges:
    """Single behaviours worth naming."""

    def test_stray_c1_after_truncated_utf8(self):
        """``e4 9d`` is not a character: the 0x9d counts as an OSC introducer."""
        out, events = run([b"a\xe4\x9d52;c;QQ==\x07b"])
        assert out == b"a\xe4b"
        assert events == [("osc52-c1", 2, 11)]

    def test_c1_after_a_string_ended_mid_character(self):
        """A 0x9c that ends a string inside a character: what follows is decoded afresh."""
        data = b"\x1b]52;c;\xe4\x9c\x9d52;c;QQ==\x07x"
        for chunks in splits(data):
            assert run(chunks) == (b"x", [("osc52", 0, 9), ("osc52-c1", 9, 11)])

    def test_esc_flood_is_one_run(self):
        """A run of lone ESCs is one ``malformed`` cut; the last ESC starts the OSC."""
        out, events = run([b"\x1b\x1b\x1b]52;c;X\x07ok"])
        assert (out, events) == (b"ok", [("malformed", 0, 2), ("osc52", 2, 9)])

    def test_esc_c0_then_osc(self):
        """ESC BEL ] 52 is an OSC to a terminal; the ESC is dropped, the rest is text."""
        out, events = run([b"\x1b\x07]52;c;QQ==\x07"])
        assert b"\x1b" not in out
        assert events[0][0] == "malformed"

    def test_lone_esc_does_not_join_a_cut(self):
        """ESC ESC ]52... : the first ESC never meets the text after the cut."""
        out, _ = run([b"\x1b\x1b]52;c;X\x07]52;c;AAAA\x07"])
        assert b"\x1b]" not in out

    @pytest.mark.parametrize(
        "data",
        [
            b":\x1b]52;c;X\x07:TRZSZ:TRANSFER:S:1.1.6:123\r\n",
            b"::TRZ\x1b]9;x\x07SZ:TRANSFER:S:1.1.6:123\r\n",
            b"*\x1b]52;c;X\x07*B0100000023be50\r\n",
            b"**B\x9fx\x9c0100000023be50\r\n",
            b"\x18\x1b_x\x1b\\B00000000000000\r\n",
        ],
    )
    def test_cut_does_not_complete_a_trigger(self, data):
        """A trigger split by a removed string is cut where the cut would join it."""
        for chunks in splits(data):
            out, events = run(chunks)
            assert b"::TRZSZ" not in out
            assert b"**B0" not in out
            assert b"\x18B0" not in out
            assert events[-1][0] in ("trzsz", "zmodem")

    def test_osc_ended_by_csi(self):
        """An OSC 52 cut short by ESC [ ends there; the CSI and text pass."""
        assert run([b"\x1b]52;c;QQ\x1b[1mbold"]) == (b"\x1b[1mbold", [("osc52", 0, 9)])

    def test_can_aborts_string(self):
        """CAN ends a dropped DCS; what follows passes."""
        assert run([b"\x1bPq#0\x18after"]) == (b"after", [("dcs-other", 0, 6)])

    def test_dcs_swallows_inner_escapes(self):
        """Inside a DCS, ESC other than ST is dropped with the string (screen wrapping)."""
        out, events = run([b"\x1bP\x1b]52;c;QQ==\x07\x1b[m\x1b\\ok"])
        assert (out, [e[0] for e in events]) == (b"ok", ["dcs-passthrough"])

    def test_screen_chunks(self):
        """GNU screen splits a long sequence into DCS chunks: each is dropped."""
        data = b"\x1bP\x1b]52;c;QUFB\x1b\\\x1bPQkJC\x07\x1b\\ok"
        expected = (b"ok", [("dcs-passthrough", 0, 15), ("dcs-other", 15, 9)])
        for chunks in splits(data):
            assert run(chunks) == expected

    def test_unterminated_string_is_bounded(self):
        """An endless OSC 52 is dropped as it comes, reported in MAX_STRING runs."""
        filt = OutputFilter()
        out, events = filt.feed(b"\x1b]52;c;")
        for _ in range(40):
            passed, blocked = filt.feed(b"Q" * 8192)
            out += passed
            events += blocked
            assert filt.pending <= MAX_HELD
        passed, blocked = filt.feed(b"\x07tail")
        kinds = [str(b.kind) for b in events + blocked]
        assert out + passed == b"tail"
        assert kinds[0] == "osc52"
        assert set(kinds[1:]) == {"oversize"}
        assert sum(b.length for b in events + blocked) == 7 + 40 * 8192 + 1
        assert all(b.length <= MAX_STRING + 1 for b in events + blocked)

    def test_flush_closes_open_string(self):
        """A string still open at end of stream is reported by ``flush``."""
        filt = OutputFilter()
        assert filt.feed(b"ok\x1b]52;c;QQ") == (b"ok", [])
        assert filt.flush() == (b"", [Blocked(Kind.OSC52, 2, 9)])

    def test_flush_decides_held_bytes(self):
        """Held prefixes (``**``, a cut UTF-8 char) are passed at end of stream."""
        filt = OutputFilter()
        out, _ = filt.feed(b"a**\xe4\xb8")
        assert filt.pending > 0
        assert out + filt.flush()[0] == b"a**\xe4\xb8"

    def test_blocked_carries_no_payload(self):
        """``Blocked`` has only kind, offset and length; its texts hold no payload."""
        _, events = OutputFilter().feed(b"\x1b]52;c;U0VDUkVU\x07")
        assert [f.name for f in dataclasses.fields(Blocked)] == ["kind", "offset", "length"]
        assert events[0].fields() == {"kind": "osc52", "offset": 0, "length": 16}
        for text in (events[0].marker(), str(events[0])):
            assert "U0VDUkVU" not in text
            assert "osc52" in text


FRAGMENTS = [
    b"\x1b", b"[", b"]", b"P", b"_", b"^", b"X", b"\\", b"52", b"0", b"8", b"1337",
    b";", b"c;", b"QQ==", b"\x07", b"\x9c", b"\x9d", b"\x90", b"\xc2", b"\xc2\x9d",
    b"\xc2\x9c", b"*", b"**", b"\x18", b"B0", b"B00000000000000", b"::", b":",
    b"::TRZSZ:TRANSFER:", b"7", b"tmux;", b"File=", b"m", b"1;31", b"a", b" ",
    "中".encode(), "😀".encode(), b"\xe4", b"\xb8", b"\r\n", b"\x1a", b"(", b"A",
]  # fmt: skip


@st.composite
def chunked(draw, data):
    """``data`` cut at random points."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


streams = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=50).map(b"".join),
    st.binary(max_size=200),
)
pieces = st.lists(
    st.one_of(
        st.sampled_from([(seq, None) for _, seq in BENIGN]),
        st.sampled_from([(seq, kind) for _, seq, kind in MALICIOUS]),
    ),
    max_size=12,
)
PROPERTY = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)


class TestProperties:
    """Properties over generated streams and splits."""

    @PROPERTY
    @given(data=st.data(), parts=pieces)
    def test_mixture_keeps_exactly_the_benign(self, data, parts):
        """Benign and malicious pieces at random splits: the benign pieces come out."""
        stream = b"".join(seq for seq, _ in parts)
        out, events = run(data.draw(chunked(stream)))
        assert out == b"".join(seq for seq, kind in parts if kind is None)
        kinds = [kind for _, kind in parts]  # None for benign pieces
        expected = [k for i, k in enumerate(kinds) if k and (i == 0 or kinds[i - 1] != k)]
        assert [e[0] for e in events] == expected

    @PROPERTY
    @given(data=st.data(), stream=streams)
    def test_split_invariant_and_accounted(self, data, stream):
        """Any bytes at any splits: same result as whole; output is input minus runs."""
        whole = run([stream])
        assert run(data.draw(chunked(stream))) == whole
        assert run([stream[i : i + 1] for i in range(len(stream))]) == whole
        assert removed(stream, whole[1]) == whole[0]

    @PROPERTY
    @given(stream=streams)
    def test_output_is_clean(self, stream):
        """Filtering the output again removes nothing: no blocked sequence got through."""
        out, _ = run([stream])
        assert run([out]) == (out, [])
