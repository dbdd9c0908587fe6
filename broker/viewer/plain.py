"""Bulk plain text: printable ASCII, CR and LF written straight into a screen.

``cat`` of a large log is the viewer's heaviest load and almost all of it is
plain text. pyte scrolls by moving every row of its buffer once per line feed
and draws through its general parser; here the rows live in a deque for the
length of the chunk (a scroll is a pop and an append) and each line segment is
one dict update of cached ``Char`` objects.

Lines that will scroll past the scrollback bound before the chunk ends are not
drawn at all. After line feed ``i`` is taken at the bottom row, ``lines - 1 +
scrollback`` more line feeds push every older cell off the screen and then out
of the bounded scrollback; the state after LF ``i`` therefore needs only its
cursor column (arithmetic, no drawing) over a blank screen and scrollback.

Only valid where ``ViewScreen.plain_ok`` holds (full-screen margins, main
screen, autowrap on, insert mode off). tests/viewer/test_emulator.py checks
the result against plain pyte with hypothesis: same cells, cursor and retained
scrollback.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pyte import modes as mo

if TYPE_CHECKING:
    from broker.viewer.emulator import ViewScreen


def advance(x: int, length: int, columns: int) -> tuple[int, int]:
    """Where autowrapped drawing of ``length`` cells from ``x`` ends: (x, wraps)."""
    if length == 0:
        return x, 0
    wraps = (x + length - 1) // columns
    return x + length - wraps * columns, wraps


def write(screen: ViewScreen, text: str) -> None:
    """Feed ``text`` (printable ASCII, CR, LF) as pyte would, only faster."""
    lines = skip_scrolled_away(screen, text.split("\n"))
    _Writer(screen).write(lines)


def skip_scrolled_away(screen: ViewScreen, lines: list[str]) -> list[str]:
    """Drop the leading lines whose every trace scrolls past the scrollback bound."""
    needed = screen.lines - 1 + (screen.history.maxlen or 0)
    i = len(lines) - 1 - needed
    if i < screen.lines - screen.cursor.y:  # the cursor would not be at the bottom yet
        return lines
    screen.cursor.x = column_after(screen, lines[:i])
    screen.cursor.y = screen.lines - 1
    screen.buffer.clear()
    screen.history.clear()
    screen.scrolled += i + needed
    screen.dirty.update(range(screen.lines))
    return lines[i:]


def column_after(screen: ViewScreen, lines: Iterable[str]) -> int:
    """The cursor column after drawing ``lines``, each followed by LF."""
    x, columns, newline_returns = screen.cursor.x, screen.columns, mo.LNM in screen.mode
    for line in lines:
        tail = line
        if "\r" in line:
            x, tail = 0, line[line.rindex("\r") + 1 :]
        x = advance(x, len(tail), columns)[0]
        if newline_returns:
            x = 0
    return x


class _Writer:
    """The screen's rows in a deque while one chunk is written."""

    def __init__(self, screen: ViewScreen) -> None:
        self.screen = screen
        buffer = screen.buffer
        self.rows = deque(buffer[y] for y in range(screen.lines))
        self.bottom = screen.lines - 1
        self.x, self.y = screen.cursor.x, screen.cursor.y
        self.kept = 0

    def write(self, lines: list[str]) -> None:
        """Draw each line, a line feed between each two."""
        screen = self.screen
        glyphs = screen.glyphs_for(screen.cursor.attrs).__getitem__
        columns, newline_returns = screen.columns, mo.LNM in screen.mode
        for number, line in enumerate(lines):
            if number:
                self.line_feed()
                if newline_returns:
                    self.x = 0
            for index, part in enumerate(line.split("\r") if "\r" in line else (line,)):
                if index:
                    self.x = 0
                pos, end = 0, len(part)
                while pos < end:
                    if self.x >= columns:
                        self.x = 0
                        self.line_feed()
                    x = self.x
                    take = min(end - pos, columns - x)
                    chars = map(glyphs, part[pos : pos + take])
                    self.rows[self.y].update(zip(range(x, x + take), chars, strict=True))
                    self.x, pos = x + take, pos + take
        self.finish()

    def line_feed(self) -> None:
        """pyte's ``index`` at the bottom (into the scrollback), else down a row."""
        if self.y == self.bottom:
            self.screen.history.append(self.rows.popleft())
            self.rows.append(self.screen.buffer.default_factory())  # type: ignore[attr-defined]
            self.kept += 1
        else:
            self.y += 1

    def finish(self) -> None:
        """Put the rows and the cursor back into the screen."""
        screen = self.screen
        screen.buffer.clear()
        screen.buffer.update(enumerate(self.rows))
        screen.cursor.x, screen.cursor.y = self.x, self.y
        screen.scrolled += self.kept
        screen.kept(self.kept)
        screen.dirty.update(range(screen.lines))
