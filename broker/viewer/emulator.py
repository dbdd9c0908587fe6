"""The viewer's terminal emulator: pyte's ``Screen``, made faster and bounded.

pyte is well kept and exact but slow (under 1 MB/s here, almost all of it in
``Screen.draw`` building a ``Char`` per cell and in the per-character parser).
``ViewScreen`` and ``ViewStream`` keep pyte's semantics and change three things:

- **fast draw**: text in replace mode with autowrap is written with cached
  ``Char`` objects (one per character and attribute set), ASCII a whole
  line-slice at a time; SGR results are remembered per (attributes, params text);
- **fast parsing**: ``ViewStream`` (broker/viewer/stream.py) matches whole
  tokens (text, complete CSI and OSC sequences, CR, LF) with one regular
  expression; a chunk of only printable ASCII, CR and LF goes to
  broker/viewer/plain.py, which writes it row by row and skips lines that
  would scroll past the scrollback bound anyway. Each shortcut gives pyte's
  result exactly (tests/viewer/test_emulator.py checks that against plain
  pyte with hypothesis);
- **compact bounded scrollback**: lines leaving the top of the screen go into a
  deque of at most ``scrollback`` lines, packed (one string plus attribute runs)
  when a frame is taken, so an idle viewer stays small.

It also adds the alternate screen (modes 47, 1047, 1049: full-screen programs
leave no trace in the scrollback) and ignores DECCOLM, as xterm does by default:
the browser window, not the target, decides the width.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any, NamedTuple

import pyte
from pyte import modes as mo
from pyte.screens import Char, Margins, wcwidth

from broker.viewer import plain

ALT_SCREEN_MODES = frozenset({47, 1047, 1049})
DECCOLM_PRIVATE = 3
_GLYPH_CACHE_LIMIT = 512
_REPLIES_LIMIT = 4096  # a target asking in a loop must not grow the server


class PackedLine(NamedTuple):
    """A scrollback line: cell texts and ``(start column, attributes)`` runs."""

    cells: str | tuple[str, ...]
    runs: tuple[tuple[int, Char], ...]


Line = Mapping[int, Char]


class Glyphs(dict[str, Char]):
    """``Char`` objects for one attribute set, made once per character."""

    def __init__(self, attrs: Char) -> None:
        super().__init__()
        self.attrs = attrs

    def __missing__(self, data: str) -> Char:
        char = self[data] = self.attrs._replace(data=data)
        return char


def pack(line: Line, columns: int) -> PackedLine:
    """One screen line as a ``PackedLine`` (trailing missing cells dropped)."""
    width = min(max(line, default=-1) + 1, columns)
    default = Char(" ")
    chars = [line.get(x, default) for x in range(width)]
    texts = [c.data for c in chars]
    single = all(len(t) == 1 for t in texts)
    cells: str | tuple[str, ...] = "".join(texts) if single else tuple(texts)
    runs: list[tuple[int, Char]] = []
    last: Char | None = None
    for x, char in enumerate(chars):
        attrs = char._replace(data=" ")
        if attrs != last:
            runs.append((x, attrs))
            last = attrs
    return PackedLine(cells, tuple(runs))


def unpack(packed: PackedLine) -> dict[int, Char]:
    """A ``PackedLine`` back as a column -> ``Char`` mapping."""
    out: dict[int, Char] = {}
    if not packed.runs:
        return out
    bounds = [start for start, _ in packed.runs[1:]] + [len(packed.cells)]
    for (start, attrs), end in zip(packed.runs, bounds, strict=True):
        for x in range(start, end):
            out[x] = attrs._replace(data=packed.cells[x])
    return out


class ViewScreen(pyte.Screen):
    """A pyte ``Screen`` with fast ASCII drawing, bounded scrollback and alt screen."""

    def __init__(self, columns: int, lines: int, scrollback: int = 1000) -> None:
        self.history: deque[Line | PackedLine] = deque(maxlen=scrollback)
        self._raw = 0  # unpacked lines at the right end of ``history``
        self._alt: tuple[Any, Any] | None = None
        self._glyphs: dict[Char, Glyphs] = {}
        self._replies = bytearray()
        self.scrolled = 0  # scroll-ups of the whole screen since the last take
        super().__init__(columns, lines)

    @property
    def in_alt_screen(self) -> bool:
        """Whether a full-screen program switched to the alternate screen."""
        return self._alt is not None

    def reset(self) -> None:
        """pyte's reset, plus: back to the main screen, scrollback emptied."""
        self._alt = None
        super().reset()
        self.history.clear()
        self._raw = 0

    def draw(self, data: str) -> None:
        """Text in replace mode with autowrap takes a fast path (same result)."""
        data = data.translate(self.g1_charset if self.charset else self.g0_charset)
        if not self._fast_draw_ok():
            super().draw(data)
        elif data.isascii() and data.isprintable():
            self._draw_ascii(data)
        else:
            widths = list(map(wcwidth, data))
            if min(widths, default=1) < 1:  # combining or unprintable: pyte's rules
                super().draw(data)
            else:
                self._draw_wide(data, widths)

    def _draw_ascii(self, data: str) -> None:
        """One cell per character: whole line-slices at a time."""
        cursor, columns = self.cursor, self.columns
        glyphs = self.glyphs_for(cursor.attrs)
        pos, end = 0, len(data)
        while pos < end:
            if cursor.x >= columns:
                self._wrap()
            take = min(end - pos, columns - cursor.x)
            x = cursor.x
            chars = map(glyphs.__getitem__, data[pos : pos + take])
            self.buffer[cursor.y].update(zip(range(x, x + take), chars, strict=True))
            cursor.x = x + take
            pos += take
        self.dirty.add(cursor.y)

    def _draw_wide(self, data: str, widths: list[int]) -> None:
        """Characters one or two cells wide, as pyte places them."""
        cursor, columns = self.cursor, self.columns
        glyphs = self.glyphs_for(cursor.attrs)
        for char, width in zip(data, widths, strict=True):
            if cursor.x >= columns:
                self._wrap()
            line = self.buffer[cursor.y]
            line[cursor.x] = glyphs[char]
            if width == 2 and cursor.x + 1 < columns:
                line[cursor.x + 1] = glyphs[""]  # the stub after a wide character
            cursor.x = min(cursor.x + width, columns)
        self.dirty.add(cursor.y)

    def _wrap(self) -> None:
        self.dirty.add(self.cursor.y)
        self.carriage_return()
        self.linefeed()

    def _fast_draw_ok(self) -> bool:
        return mo.DECAWM in self.mode and mo.IRM not in self.mode

    def glyphs_for(self, attrs: Char) -> Glyphs:
        """The cached ``Char`` objects for one attribute set."""
        glyphs = self._glyphs.get(attrs)
        if glyphs is None:
            if len(self._glyphs) >= _GLYPH_CACHE_LIMIT:
                self._glyphs.clear()
            glyphs = self._glyphs[attrs] = Glyphs(attrs)
        return glyphs

    def index(self) -> None:
        """Scrolling off the top of a top-anchored region feeds the scrollback."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y == bottom:
            if top == 0 and self._alt is None:
                self.history.append(self.buffer[top])
                self._raw = min(self._raw + 1, len(self.history))
            if top == 0 and bottom == self.lines - 1:
                self.scrolled += 1
        super().index()

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        """``ESC [ 3 J`` also empties the scrollback, as in xterm."""
        super().erase_in_display(how, *args, **kwargs)
        if how == 3:
            self.history.clear()
            self._raw = 0

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        """Alternate screen on; DECCOLM ignored (the browser decides the width)."""
        if kwargs.get("private"):
            modes = tuple(m for m in modes if m != DECCOLM_PRIVATE)
            alt = ALT_SCREEN_MODES.intersection(modes)
            if alt and self._alt is None:
                self._enter_alt(save_cursor=1049 in alt)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        """Alternate screen off; DECCOLM ignored."""
        if kwargs.get("private"):
            modes = tuple(m for m in modes if m != DECCOLM_PRIVATE)
            if ALT_SCREEN_MODES.intersection(modes) and self._alt is not None:
                self._leave_alt()
        super().reset_mode(*modes, **kwargs)

    def _enter_alt(self, *, save_cursor: bool) -> None:
        saved = self._copy_cursor() if save_cursor else None
        self._alt = (self.buffer, saved)
        assert isinstance(self.buffer, defaultdict)
        self.buffer = defaultdict(self.buffer.default_factory)
        self.dirty.update(range(self.lines))

    def _leave_alt(self) -> None:
        assert self._alt is not None
        self.buffer, saved = self._alt
        self._alt = None
        if saved is not None:
            self.cursor = saved
            self.ensure_hbounds()
            self.ensure_vbounds()
        self.dirty.update(range(self.lines))

    def _copy_cursor(self) -> Any:
        cursor = pyte.screens.Cursor(self.cursor.x, self.cursor.y, self.cursor.attrs)
        cursor.hidden = self.cursor.hidden
        return cursor

    @property
    def plain_ok(self) -> bool:
        """Whether ``broker.viewer.plain`` may write here: full-screen margins,
        main screen, autowrap on, insert mode off."""
        margins = self.margins
        full = margins is None or (margins.top == 0 and margins.bottom == self.lines - 1)
        return full and self._alt is None and self._fast_draw_ok()

    def feed_plain(self, text: str) -> None:
        """Printable ASCII, CR and LF only, the parser in its ground state."""
        if self.plain_ok:
            plain.write(self, text)
            return
        draw, cr, lf = self.draw, self.carriage_return, self.linefeed
        for number, line in enumerate(text.split("\n")):
            if number:
                lf()
            for index, part in enumerate(line.split("\r")):
                if index:
                    cr()
                if part:
                    draw(part)

    def kept(self, lines: int) -> None:
        """``lines`` were appended to the scrollback from outside ``index``."""
        self._raw = min(self._raw + lines, len(self.history))

    def write_process_input(self, data: str) -> None:
        """Answers to the target's queries (DSR, DA), kept for ``take_replies``."""
        if len(self._replies) < _REPLIES_LIMIT:
            self._replies += data.encode("utf-8")

    def take_replies(self) -> bytes:
        """The answers gathered since the last call."""
        replies, self._replies = bytes(self._replies), bytearray()
        return replies

    def compact(self) -> None:
        """Pack the scrollback lines added since the last call."""
        history, columns = self.history, self.columns
        for index in range(len(history) - self._raw, len(history)):
            line = history[index]
            if not isinstance(line, PackedLine):
                history[index] = pack(line, columns)
        self._raw = 0

    def view_line(self, y: int, offset: int) -> Line:
        """Display row ``y`` with the view scrolled back ``offset`` lines."""
        back = offset - y
        if back > 0:
            line = self.history[len(self.history) - back]
            return unpack(line) if isinstance(line, PackedLine) else line
        return self.buffer[y - offset]
