"""``TerminalView``: a terminal emulated in the region, seen only as pixels.

Bytes from the target (already through the egress filter) go in with ``feed``;
``frame`` gives the binary WebSocket messages (broker/viewer/protocol.py) that
bring a browser's canvas up to date. Nothing here knows about SSH, sockets or
sessions, so live viewing, watching and replay all use the same class.

Decisions:

- A row is re-sent only when its cells or its cursor changed since it was last
  sent (compared cell by cell; the emulator reuses ``Char`` objects, so the
  comparison is mostly by identity). When the screen scrolled, one SCROLL
  message moves the pixels the browser already has and only the rows that
  differ after the move are drawn.
- The status bar below the rows draws the window title (OSC 0/2), a banner,
  the watchers and the scroll position: none of them ever leaves as text.
- The watermark's minute changing re-sends everything, so no strip on screen
  is older than the minute it shows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from pyte.screens import Char

from broker.errors import InputError
from broker.viewer import protocol
from broker.viewer.emulator import ViewScreen
from broker.viewer.render import Renderer, encode
from broker.viewer.stream import ViewStream

Row = tuple[tuple[Char | None, ...], int]
_DECCKM = 1 << 5  # pyte keeps private modes shifted by 5 bits
_BRACKETED_PASTE = 2004 << 5
_PASTE_START, _PASTE_END = "\x1b[200~", "\x1b[201~"
_APPLICATION_KEYS = tuple((f"\x1b[{k}", f"\x1bO{k}") for k in "ABCDHF")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Watermark:
    """Who is looking and at which session: baked into every pixel strip."""

    staff_id: str
    session_id: str
    clock: Callable[[], datetime] = field(default=utc_now)

    def refresh_in(self) -> float:
        """Seconds until the minute shown changes."""
        now = self.clock()
        return 60.0 - now.second - now.microsecond / 1e6

    def text(self) -> str:
        """``staff · session · YYYY-MM-DD HH:MMZ`` (UTC, to the minute)."""
        now = self.clock().astimezone(UTC)
        return f"{self.staff_id} · {self.session_id} · {now:%Y-%m-%d %H:%M}Z"


@cache
def shared_renderer() -> Renderer:
    """One renderer (fonts and glyph cache) for every view in the process."""
    return Renderer()


class TerminalView:
    """One emulated terminal, its scrollback, status bar and pixel frames."""

    def __init__(
        self, cols: int, rows: int, *, watermark: Watermark, scrollback: int = 1000
    ) -> None:
        _check_size(cols, rows)
        if scrollback < 0:
            raise InputError("scrollback", "must be 0 or more")
        self._watermark = watermark
        self._renderer = shared_renderer()
        self._screen = ViewScreen(cols, rows, scrollback)
        self._stream = ViewStream(self._screen)
        self._offset = 0
        self._watchers: tuple[str, ...] = ()
        self._banner: str | None = None
        self._sent: list[Row | None] = []
        self._status_sent: tuple[object, ...] | None = None
        self._mark_sent = ""
        self._offset_sent = 0
        self._new_canvas = True

    @property
    def size(self) -> tuple[int, int]:
        """The grid: (cols, rows)."""
        return self._screen.columns, self._screen.lines

    @property
    def cell_size(self) -> tuple[int, int]:
        """One cell in pixels: (width, height)."""
        return self._renderer.cell_w, self._renderer.cell_h

    @property
    def status_height(self) -> int:
        """The status bar's height in pixels (below the rows)."""
        return self._renderer.status_h

    @property
    def canvas_size(self) -> tuple[int, int]:
        """The whole canvas in pixels: rows plus status bar."""
        cols, rows = self.size
        cell_w, cell_h = self.cell_size
        return cols * cell_w, rows * cell_h + self.status_height

    @property
    def scroll_offset(self) -> int:
        """How many lines the view is scrolled back (0 = live)."""
        return self._offset

    def refresh_in(self) -> float:
        """Seconds until the next frame is due without any change (the
        watermark's minute): ``FramePump``'s ``refresh``."""
        return self._watermark.refresh_in()

    def ready_message(self) -> str:
        """The JSON ``ready`` control message for the current size."""
        cols, rows = self.size
        cell_w, cell_h = self.cell_size
        return protocol.ready(cols, rows, cell_w, cell_h, self.status_height)

    def feed(self, data: bytes) -> None:
        """Output from the target; any output returns the view to live."""
        if data:
            self._stream.feed(data)
            self._offset = 0

    def encode_keys(self, data: str) -> bytes:
        """Keys from the page as bytes for the target: the page always sends
        normal-mode cursor keys; in application cursor mode (DECCKM, set by
        full-screen programs) they become the SS3 forms those programs expect."""
        if _DECCKM in self._screen.mode:
            for normal, application in _APPLICATION_KEYS:
                data = data.replace(normal, application)
        return data.encode("utf-8", "replace")

    def encode_paste(self, data: str) -> bytes:
        """A paste as bytes for the target, bracketed when the target asked
        (mode 2004). A pasted end marker is removed so a paste cannot end its
        own bracket and run as typed commands."""
        data = data.replace(_PASTE_END, "").replace(_PASTE_START, "")
        if _BRACKETED_PASTE in self._screen.mode:
            data = _PASTE_START + data + _PASTE_END
        return data.encode("utf-8", "replace")

    def take_replies(self) -> bytes:
        """What the terminal answers the target (cursor position, device
        attributes): write it to the target's input. Emptied by the call."""
        return self._screen.take_replies()

    def resize(self, cols: int, rows: int) -> None:
        """A new grid; the next frame starts with a CANVAS message."""
        _check_size(cols, rows)
        self._screen.resize(lines=rows, columns=cols)
        self._offset = 0
        self._new_canvas = True

    def scroll(self, lines: int) -> None:
        """Move the view into the scrollback: negative = back, 0 = live."""
        if lines == 0:
            self._offset = 0
            return
        self._offset = max(0, min(len(self._screen.history), self._offset - lines))

    def repaint(self) -> None:
        """The next frame starts with a CANVAS message and redraws everything
        (a browser page that just attached has nothing yet)."""
        self._new_canvas = True

    def mirror(self, watermark: Watermark) -> TerminalView:
        """One more page's view of this screen (a watcher's): a copy of the
        emulator as it is now, fed the same output from here on, with its own
        watermark, scroll position and record of what its browser has."""
        cols, rows = self.size
        twin = TerminalView(cols, rows, watermark=watermark, scrollback=0)
        twin._screen = copy.deepcopy(self._screen)
        twin._screen.scrolled = 0
        twin._stream = ViewStream(twin._screen)
        twin._watchers, twin._banner = self._watchers, self._banner
        return twin

    def set_status(self, *, watchers: Sequence[str] = (), banner: str | None = None) -> None:
        """Watcher ids and a banner (e.g. waiting, ended) for the status bar."""
        self._watchers = tuple(watchers)
        self._banner = banner

    def frame(self) -> list[bytes]:
        """Binary messages for everything changed since the last call."""
        self._screen.compact()
        out: list[bytes] = []
        mark = self._watermark.text()
        if self._new_canvas or mark != self._mark_sent:
            out += self._reset(mark)
        rows = [self._row(y) for y in range(self._screen.lines)]
        out += self._scroll_rows(rows)
        out += [self._draw_row(y, row) for y, row in enumerate(rows) if row != self._sent[y]]
        out += self._status(mark)
        self._offset_sent = self._offset
        return out

    def _reset(self, mark: str) -> list[bytes]:
        """Forget what the browser has: everything is sent again."""
        out = []
        if self._new_canvas:
            width, height = self.canvas_size
            out.append(protocol.frame_header(protocol.OP_CANVAS, 0, (0, 0, width, height)))
        self._new_canvas = False
        self._mark_sent = mark
        self._sent = [None] * self._screen.lines
        self._status_sent = None
        self._screen.scrolled = 0
        return out

    def _row(self, y: int) -> Row:
        """Display row ``y``: its cells and the cursor column on it (-1: none)."""
        screen = self._screen
        line = screen.view_line(y, self._offset)
        cursor = screen.cursor
        shown = self._offset == 0 and not cursor.hidden and cursor.y == y
        return tuple(map(line.get, range(screen.columns))), (
            min(cursor.x, screen.columns - 1) if shown else -1
        )

    def _scroll_rows(self, rows: list[Row]) -> list[bytes]:
        """One SCROLL message when moving the browser's pixels saves drawing."""
        lines, self._screen.scrolled = self._screen.scrolled, 0
        count = len(rows)
        if not 0 < lines < count or self._offset or self._offset_sent:
            return []
        moved = self._sent[lines:] + [None] * lines
        if sum(map(_differs, rows, moved)) >= sum(map(_differs, rows, self._sent)):
            return []
        self._sent = moved
        cell_h = self._renderer.cell_h
        width = self._screen.columns * self._renderer.cell_w
        return [
            protocol.frame_header(
                protocol.OP_SCROLL, 0, (0, 0, width, count * cell_h), -lines * cell_h
            )
        ]

    def _draw_row(self, y: int, row: Row) -> bytes:
        """Render, encode and remember one row; only its changed cells go out."""
        first, end = _changed_span(row, self._sent[y])
        self._sent[y] = row
        image = self._renderer.row(row[0], row[1], self._mark_sent)
        cell_w, cell_h = self.cell_size
        if (first, end) != (0, len(row[0])):
            image = image.crop((first * cell_w, 0, end * cell_w, cell_h))
        rect = (first * cell_w, y * cell_h, image.width, cell_h)
        return protocol.frame_header(protocol.OP_DRAW, protocol.FORMAT_WEBP, rect) + encode(image)

    def _status(self, mark: str) -> list[bytes]:
        """The status bar, when anything on it changed."""
        screen = self._screen
        state = (screen.title, self._banner, self._watchers, self._offset, len(screen.history))
        if state == self._status_sent:
            return []
        self._status_sent = state
        right = []
        if self._watchers:
            right.append("watching: " + ", ".join(self._watchers))
        if self._offset:
            right.append(f"scrollback {self._offset}/{len(screen.history)}")
        width, _ = self.canvas_size
        image = self._renderer.status(width, screen.title, self._banner, "   ".join(right), mark)
        top = screen.lines * self._renderer.cell_h
        header = protocol.frame_header(
            protocol.OP_DRAW, protocol.FORMAT_WEBP, (0, top, image.width, image.height)
        )
        return [header + encode(image)]


def _changed_span(row: Row, sent: Row | None) -> tuple[int, int]:
    """The columns ``first..end`` to redraw: the changed cells and old and new
    cursor, widened by one cell each side for wide characters and glyphs that
    overhang their cell (bold)."""
    cells, cursor = row
    width = len(cells)
    if sent is None or len(sent[0]) != width:
        return 0, width
    old = sent[0]
    changed = [x for x in range(width) if cells[x] is not old[x] and cells[x] != old[x]]
    changed += [x for x in (cursor, sent[1]) if x >= 0 and cursor != sent[1]]
    if not changed:
        return 0, width  # not reached: only rows that differ are drawn
    return max(0, min(changed) - 1), min(width, max(changed) + 2)


def _differs(row: Row, sent: Row | None) -> bool:
    return row != sent


def _check_size(cols: int, rows: int) -> None:
    if not 1 <= cols <= protocol.COLS_RANGE[1]:
        raise InputError("cols", f"must be from 1 to {protocol.COLS_RANGE[1]}")
    if not 1 <= rows <= protocol.ROWS_RANGE[1]:
        raise InputError("rows", f"must be from 1 to {protocol.ROWS_RANGE[1]}")
