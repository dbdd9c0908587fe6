"""The viewer's emulator: pyte's behaviour, faster, with bounded compact scrollback."""

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyte.screens import Char

from broker.viewer import plain
from broker.viewer.emulator import PackedLine, ViewScreen, pack, unpack
from broker.viewer.plain import advance
from broker.viewer.stream import ViewStream

BLANK = Char(" ")


def cells(line, columns):
    """A line as a list of ``Char`` with blanks filled in."""
    return [line.get(x, BLANK) for x in range(columns)]


def history_cells(history, columns):
    """The scrollback as lists of ``Char`` (packed lines unpacked)."""
    out = []
    for line in history:
        plain = unpack(line) if isinstance(line, PackedLine) else line
        out.append(cells(plain, columns))
    return out


def pair(columns, lines, scrollback):
    """Our screen and stream beside plain pyte's HistoryScreen and ByteStream."""
    ours = ViewScreen(columns, lines, scrollback)
    theirs = pyte.HistoryScreen(columns, lines, history=scrollback)
    return ours, ViewStream(ours), theirs, pyte.ByteStream(theirs)


def assert_same(ours, theirs):
    """Same screen cells, cursor position and retained scrollback."""
    columns = ours.columns
    for y in range(ours.lines):
        assert cells(ours.buffer[y], columns) == cells(theirs.buffer[y], columns), y
    assert (ours.cursor.x, ours.cursor.y) == (theirs.cursor.x, theirs.cursor.y)
    ours.compact()
    assert history_cells(ours.history, columns) == history_cells(theirs.history.top, columns)


# Printable ASCII lines, CR and LF: what the bulk path takes.
plain_text = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=45),
        st.sampled_from(["\r\n", "\n", "\r", "\n\n\n"]),
    ),
    max_size=80,
).map("".join)

# Colours, cursor moves, erases, tabs and UTF-8: what the general path takes.
mixed_piece = st.one_of(
    plain_text,
    st.sampled_from([
        "\x1b[1;31m", "\x1b[0m", "\x1b[38;5;208m", "\x1b[48;2;10;20;30m", "\x1b[7m",
        "\x1b[4m", "\x1b[H", "\x1b[2J", "\x1b[K", "\x1b[3;5H", "\x1b[A", "\x1b[2C", "\t",
        "\x08", "日本", "é", "e\u0301", "\x1b[4h", "\x1b[4l", "\x1b[?7l", "\x1b[?7h",
        "\x1b[20h", "\x1b[20l", "\x1b[P", "\x1b[@", "\x1bM", "\x1bD",
    ]),
)  # fmt: skip


class TestBulkPlainPath:
    """``feed_plain`` (with its skipping of lines lost anyway) equals plain pyte."""

    @settings(max_examples=300, deadline=None)
    @given(
        chunks=st.lists(plain_text, min_size=1, max_size=6),
        columns=st.integers(3, 12),
        lines=st.integers(1, 6),
        scrollback=st.integers(0, 8),
        prefix=st.sampled_from(["", "\x1b[3;2H", "abc", "\x1b[20h", "\x1b[?7l"]),
    )
    def test_same_state_as_pyte(self, chunks, columns, lines, scrollback, prefix):
        """Any chunking of plain text, after any cursor position or mode, ends
        in pyte's screen, cursor and retained scrollback."""
        ours, our_stream, theirs, their_stream = pair(columns, lines, scrollback)
        for data in [prefix, *chunks]:
            our_stream.feed(data.encode())
            their_stream.feed(data.encode())
        assert_same(ours, theirs)

    def test_long_chunk_skips_lines(self, monkeypatch):
        """A chunk far longer than screen plus scrollback keeps only the tail,
        and the lines before it are skipped, not drawn."""
        drawn = []
        original = plain._Writer.write
        monkeypatch.setattr(
            plain._Writer,
            "write",
            lambda self, lines: drawn.append(len(lines)) or original(self, lines),
        )
        ours, stream, theirs, their_stream = pair(10, 4, 5)
        data = b"".join(b"line %04d\r\n" % i for i in range(1000))
        stream.feed(data)
        their_stream.feed(data)
        assert_same(ours, theirs)
        assert "".join(c.data for c in cells(ours.buffer[2], 10)).startswith("line 0999")
        assert drawn == [4 - 1 + 5 + 1]  # rows - 1 + scrollback line feeds, so one more line

    def test_skip_needs_the_cursor_at_the_bottom(self):
        """Starting at the top, the first line feeds only move the cursor."""
        ours, stream, theirs, their_stream = pair(5, 5, 0)
        data = b"a\nb\nc\nd\ne\nf"
        stream.feed(data)
        their_stream.feed(data)
        assert_same(ours, theirs)


class TestGeneralPath:
    """Everything else still behaves as pyte does."""

    @settings(max_examples=300, deadline=None)
    @given(
        pieces=st.lists(mixed_piece, min_size=1, max_size=20),
        columns=st.integers(3, 12),
        lines=st.integers(1, 6),
    )
    def test_same_state_as_pyte(self, pieces, columns, lines):
        """Colours, cursor moves, insert mode, autowrap off, wide and combining
        characters: same screen, cursor and scrollback as pyte."""
        ours, our_stream, theirs, their_stream = pair(columns, lines, 4)
        for piece in pieces:
            our_stream.feed(piece.encode())
            their_stream.feed(piece.encode())
        assert_same(ours, theirs)

    def test_split_utf8_is_not_taken_as_plain(self):
        """A character split across chunks is decoded whole, not as ASCII."""
        ours, stream, _theirs, _ = pair(10, 2, 0)
        data = "é".encode()
        stream.feed(data[:1])
        stream.feed(data[1:] + b"x")
        assert [c.data for c in cells(ours.buffer[0], 3)] == ["é", "x", " "]


class TestScrollback:
    """Bounded, compact, cleared by ``ESC [ 3 J``."""

    def test_bound(self):
        """No more than ``scrollback`` lines are kept, the newest ones."""
        screen = ViewScreen(20, 3, scrollback=10)
        stream = ViewStream(screen)
        for i in range(50):
            stream.feed(b"row %d\r\n" % i)
        screen.compact()
        assert len(screen.history) == 10
        assert unpack(screen.history[-1])[4].data == "4"  # "row 47"

    def test_compact_packs_lines(self):
        """After ``compact`` every scrollback line is a ``PackedLine``."""
        screen = ViewScreen(20, 3, scrollback=10)
        ViewStream(screen).feed(b"\x1b[31mred\x1b[0m plain\r\n" * 8)
        screen.compact()
        assert all(isinstance(line, PackedLine) for line in screen.history)

    def test_erase_scrollback(self):
        """``ESC [ 3 J`` empties the scrollback, as xterm does."""
        screen = ViewScreen(20, 3, scrollback=10)
        stream = ViewStream(screen)
        stream.feed(b"x\r\n" * 10)
        stream.feed(b"\x1b[3J")
        assert len(screen.history) == 0

    @pytest.mark.parametrize(
        "text", ["plain", "\x1b[1;32mgreen\x1b[0m and \x1b[7mreverse", "日本 e\u0301"]
    )
    def test_pack_round_trip(self, text):
        """Packing and unpacking a line keeps every cell."""
        screen = ViewScreen(20, 1)
        ViewStream(screen).feed(text.encode())
        line = screen.buffer[0]
        assert cells(unpack(pack(line, 20)), 20) == cells(line, 20)

    def test_view_line_reaches_back(self):
        """Row 0 of a view scrolled back 2 lines is the second newest history line."""
        screen = ViewScreen(10, 2, scrollback=5)
        ViewStream(screen).feed(b"a\r\nb\r\nc\r\nd")
        screen.compact()
        assert screen.view_line(0, 2)[0].data == "a"
        assert screen.view_line(1, 2)[0].data == "b"
        assert screen.view_line(1, 0)[0].data == "d"


class TestAltScreen:
    """Full-screen programs draw on the alternate screen and leave no trace."""

    def test_alt_screen_restores_main(self):
        """Leaving the alternate screen brings back the main screen and cursor."""
        screen = ViewScreen(10, 3, scrollback=5)
        stream = ViewStream(screen)
        stream.feed(b"main\r\nline")
        stream.feed(b"\x1b[?1049h\x1b[Hfull screen\r\n\r\n\r\n\r\n")
        assert screen.in_alt_screen
        assert len(screen.history) == 0
        stream.feed(b"\x1b[?1049l")
        assert not screen.in_alt_screen
        assert "".join(c.data for c in cells(screen.buffer[0], 4)) == "main"
        assert (screen.cursor.x, screen.cursor.y) == (4, 1)

    def test_deccolm_ignored(self):
        """``ESC [ ? 3 h`` does not change the width the browser chose."""
        screen = ViewScreen(80, 5)
        ViewStream(screen).feed(b"\x1b[?3h")
        assert screen.columns == 80


class TestTitleAndReplies:
    """OSC titles are kept for the status bar; queries are answered."""

    @pytest.mark.parametrize("osc", [b"\x1b]0;build box\x07", b"\x1b]2;build box\x1b\\"])
    def test_title(self, osc):
        """OSC 0 and OSC 2 set the title the status bar draws."""
        screen = ViewScreen(20, 2)
        ViewStream(screen).feed(osc)
        assert screen.title == "build box"

    def test_cursor_position_report(self):
        """``ESC [ 6 n`` is answered with the cursor position."""
        screen = ViewScreen(20, 5)
        ViewStream(screen).feed(b"\x1b[3;4H\x1b[6n")
        assert screen.take_replies() == b"\x1b[3;4R"
        assert screen.take_replies() == b""


class TestAdvance:
    """The cursor arithmetic the skipping relies on."""

    @pytest.mark.parametrize(
        ("x", "length", "expected"),
        [(0, 0, (0, 0)), (0, 5, (5, 0)), (5, 1, (1, 1)), (0, 6, (1, 1)), (0, 10, (5, 1)),
         (0, 11, (1, 2)), (3, 2, (5, 0))],
    )  # fmt: skip
    def test_advance(self, x, length, expected):
        """Autowrap on a 5-column screen: end column and number of wraps."""
        assert advance(x, length, 5) == expected
