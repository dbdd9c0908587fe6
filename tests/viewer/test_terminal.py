"""``TerminalView``: bytes in, incremental pixel frames out, which compose exactly."""

import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageChops
from pyte.screens import Char

from broker.errors import InputError
from broker.viewer import protocol
from broker.viewer.terminal import TerminalView, Watermark, shared_renderer
from tests.viewer.canvas import Canvas


class Clock:
    """A settable UTC clock for the watermark."""

    def __init__(self):
        self.now = datetime(2026, 12, 4, 15, 31, 5, tzinfo=UTC)

    def __call__(self):
        return self.now


def view(cols=40, rows=8, scrollback=100, clock=None):
    """A view with a fixed-clock watermark."""
    mark = Watermark("staff-7", "0f3c-session", clock or Clock())
    return TerminalView(cols, rows, watermark=mark, scrollback=scrollback)


def ops(messages):
    """The op code of each binary message."""
    return [m[0] for m in messages]


def same(a, b):
    """Whether two images are pixel-identical."""
    return ImageChops.difference(a, b).getbbox() is None


def fresh_image(data, cols=40, rows=8, scrollback=100):
    """What a new viewer fed ``data`` in one go shows."""
    other = view(cols, rows, scrollback)
    other.feed(data)
    return Canvas().apply(other.frame()).image


class TestFrames:
    """The first frame, incremental frames, and their composition."""

    def test_first_frame_is_everything(self):
        """CANVAS, then every row, then the status bar."""
        v = view()
        messages = v.frame()
        assert ops(messages) == [protocol.OP_CANVAS] + [protocol.OP_DRAW] * 9
        _, _, _, _, w, h, _ = struct.unpack(">BBHHHHh", messages[0][:12])
        assert (w, h) == v.canvas_size
        assert v.frame() == []

    def test_echo_is_small(self):
        """One typed character's echo is one small DRAW of a few cells (< 1 KB)."""
        v = view(120, 40)
        v.feed(b"$ ")
        v.frame()
        v.feed(b"l")
        messages = v.frame()
        assert ops(messages) == [protocol.OP_DRAW]
        assert len(messages[0]) < 1024
        x, w = struct.unpack(">HH", messages[0][2:4] + messages[0][6:8])
        assert x > 0
        assert w < 10 * v.cell_size[0]

    def test_scroll_moves_pixels(self):
        """A few new lines at the bottom: one SCROLL and only the new rows drawn."""
        v = view()
        v.feed(b"".join(b"line %d\r\n" % i for i in range(20)))
        canvas = Canvas().apply(v.frame())
        v.feed(b"more 1\r\nmore 2\r\n")
        messages = v.frame()
        assert ops(messages)[0] == protocol.OP_SCROLL
        assert ops(messages).count(protocol.OP_DRAW) <= 4
        canvas.apply(messages)
        expected = b"".join(b"line %d\r\n" % i for i in range(20)) + b"more 1\r\nmore 2\r\n"
        assert same(canvas.image, fresh_image(expected))

    @settings(max_examples=40, deadline=None)
    @given(
        chunks=st.lists(
            st.sampled_from([
                b"hello ", b"world\r\n", b"\x1b[31mred\x1b[0m ", b"\x1b[2J\x1b[H", b"\x1b[5;3H*",
                b"x" * 50, b"\r\n" * 3, b"\x1b[?25l", b"\x1b[?25h", b"\x1b[1mbold\x1b[22m",
                b"\x1b]0;title\x07", b"\x1b[?1049h", b"\x1b[?1049l", "日本\r\n".encode(),
                b"\x1bM", b"\x08\x08", b"\x1b[K",
            ]),
            min_size=1,
            max_size=12,
        ),
        frame_after=st.lists(st.booleans(), min_size=12, max_size=12),
    )  # fmt: skip
    def test_incremental_frames_compose_to_a_fresh_render(self, chunks, frame_after):
        """However output is split between frames, the browser's canvas ends
        pixel-identical to a fresh viewer's first frame of the same bytes."""
        v = view()
        canvas = Canvas().apply(v.frame())
        for chunk, take in zip(chunks, frame_after, strict=False):
            v.feed(chunk)
            if take:
                canvas.apply(v.frame())
        canvas.apply(v.frame())
        assert same(canvas.image, fresh_image(b"".join(chunks)))

    def test_nothing_as_text(self):
        """Screen text and the OSC title never appear in any message's bytes."""
        v = view()
        canary = b"CANARY-7f3a9c"
        v.feed(b"\x1b]2;" + canary + b"-title\x07" + canary + b"\r\n")
        blob = b"".join(v.frame())
        assert canary not in blob
        assert canary.decode().encode("utf-16-le") not in blob


class TestWatermark:
    """The watermark's minute is in every strip and changes with the clock."""

    def test_text(self):
        """staff id, session id and UTC time to the minute."""
        mark = Watermark("staff-7", "0f3c", Clock())
        assert mark.text() == "staff-7 · 0f3c · 2026-12-04 15:31Z"

    def test_refresh_in(self):
        """Seconds to the next minute: when the watermark must be redrawn."""
        clock = Clock()
        assert view(clock=clock).refresh_in() == pytest.approx(55.0)

    def test_minute_change_redraws_everything(self):
        """A new minute re-sends every row and the status bar."""
        clock = Clock()
        v = view(clock=clock)
        v.frame()
        clock.now += timedelta(seconds=30)  # same minute
        assert v.frame() == []
        clock.now += timedelta(seconds=30)
        assert ops(v.frame()) == [protocol.OP_DRAW] * 9


class TestResizeAndScroll:
    """Resizing the grid and looking back into the scrollback."""

    def test_resize(self):
        """A resize gives a new CANVAS of the new size, then everything."""
        v = view()
        v.frame()
        v.resize(60, 10)
        messages = v.frame()
        assert v.size == (60, 10)
        assert ops(messages) == [protocol.OP_CANVAS] + [protocol.OP_DRAW] * 11
        assert struct.unpack(">HH", messages[0][6:10]) == v.canvas_size

    @pytest.mark.parametrize(
        ("cols", "rows", "field"),
        [(0, 5, "cols"), (80, 0, "rows"), (401, 5, "cols"), (80, 201, "rows")],
    )
    def test_bad_size(self, cols, rows, field):
        """Sizes out of bounds are refused, naming the field."""
        with pytest.raises(InputError) as caught:
            view().resize(cols, rows)
        assert caught.value.field == field

    def test_scroll_back_and_live(self):
        """Scrolling back shows older lines; new output returns to live."""
        v = view(rows=4)
        v.feed(b"".join(b"line %d\r\n" % i for i in range(30)))
        canvas = Canvas().apply(v.frame())
        live = canvas.image.copy()
        v.scroll(-10)
        assert v.scroll_offset == 10
        canvas.apply(v.frame())
        assert not same(canvas.image, live)
        v.scroll(-1000)
        assert v.scroll_offset == 27  # 30 line feeds on 4 rows: 27 lines scrolled off, no further
        v.feed(b"x")
        assert v.scroll_offset == 0

    def test_scrolled_row_is_the_history_line(self):
        """Scrolled back 3 lines, the top row shows exactly the third newest
        scrollback line, as the renderer draws those cells."""
        v = view(rows=4)
        v.feed(b"".join(b"line %d\r\n" % i for i in range(30)))
        canvas = Canvas().apply(v.frame())
        v.scroll(-3)
        canvas.apply(v.frame())
        cols = v.size[0]
        cells = [Char(c) for c in "line 24"] + [None] * (cols - 7)
        cell_w, cell_h = v.cell_size
        expected = shared_renderer().row(cells, -1, v._mark_sent)
        assert same(canvas.image.crop((0, 0, cols * cell_w, cell_h)), expected)

    def test_scroll_zero_returns_to_live(self):
        """``scroll(0)`` is back to the live screen."""
        v = view(rows=4)
        v.feed(b"a\r\n" * 10)
        v.scroll(-3)
        v.scroll(0)
        assert v.scroll_offset == 0


class TestStatus:
    """Watchers and banners are drawn into the status bar only."""

    def test_status_changes_redraw_the_bar(self):
        """``set_status`` re-sends only the status bar."""
        v = view()
        v.frame()
        v.set_status(watchers=["staff-9"], banner="Waiting for the target")
        messages = v.frame()
        assert ops(messages) == [protocol.OP_DRAW]
        y = struct.unpack(">H", messages[0][4:6])[0]
        assert y == 8 * v.cell_size[1]
        assert b"staff-9" not in messages[0]

    def test_title_redraws_only_the_bar(self):
        """An OSC title changes the status bar's pixels and nothing else."""
        v = view()
        v.frame()
        v.feed(b"\x1b]0;build-box\x07")
        messages = v.frame()
        assert ops(messages) == [protocol.OP_DRAW]
        assert struct.unpack(">H", messages[0][4:6])[0] == 8 * v.cell_size[1]

    def test_ready_message(self):
        """``ready`` matches the view's grid and cell size."""
        v = view()
        ready = protocol.ready(40, 8, *v.cell_size, v.status_height)
        assert v.ready_message() == ready

    def test_replies_for_the_target(self):
        """Queries from the target are answered for it, not shown."""
        v = view()
        v.feed(b"\x1b[6n")
        assert v.take_replies() == b"\x1b[1;1R"

    def test_renderer_shared(self):
        """Every view uses one renderer (fonts and caches loaded once)."""
        assert view()._renderer is shared_renderer() is view()._renderer


class TestInput:
    """Keys and pastes as the target expects them in its current modes."""

    def test_cursor_keys_follow_decckm(self):
        """Arrows are CSI in normal mode, SS3 after ``ESC [ ? 1 h``."""
        v = view()
        assert v.encode_keys("\x1b[A") == b"\x1b[A"
        v.feed(b"\x1b[?1h")
        assert v.encode_keys("\x1b[Ax\x1b[D") == b"\x1bOAx\x1bOD"
        assert v.encode_keys("\x1b[1;5C") == b"\x1b[1;5C"  # modified keys keep their form

    def test_bracketed_paste(self):
        """A paste is bracketed when the target asked for it, and a pasted end
        marker cannot close the bracket early."""
        v = view()
        assert v.encode_paste("ls\r") == b"ls\r"
        v.feed(b"\x1b[?2004h")
        pasted = v.encode_paste("a\x1b[201~rm -rf /\r")
        assert pasted == b"\x1b[200~arm -rf /\r\x1b[201~"

    def test_utf8(self):
        """Text is sent as UTF-8."""
        assert view().encode_keys("日本") == "日本".encode()
