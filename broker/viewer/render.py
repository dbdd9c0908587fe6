"""Pixels from cells: one terminal row becomes one image strip.

Decisions:

- The font is DejaVu Sans Mono (Debian's fonts-dejavu-core). A missing font is
  an ``UnavailableError``: the viewer fails closed rather than fall back to
  something that might render unreadably.
- A row is drawn in attribute runs; each run's glyph mask is cached by
  ``(text, bold)``, so a row that moves (scrolling, redraws) costs a paste, not
  FreeType work. Wide characters and anything outside ASCII are drawn per cell
  so the grid stays aligned.
- The watermark (staff id, session id, UTC time to the minute) is the same
  mask on every row strip, so strips compose into a screen and any crop of a
  screenshot still carries it. The minute changing changes every strip.
- Strips are encoded as lossless WebP (``encode``); docs/benchmarks.md
  ("Viewer") has the measurement against PNG behind that choice. Text is
  anti-aliased in 8 steps and the watermark in 4, so a row has a few dozen
  colours and compresses to about half.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from pyte.graphics import FG_BG_256
from pyte.screens import Char, wcwidth

from broker.errors import UnavailableError

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = FONT_DIR / "DejaVuSansMono.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSansMono-Bold.ttf"
FONT_SIZE = 15
WATERMARK_SIZE = 10

RGB = tuple[int, int, int]
DEFAULT_FG: RGB = (0xD0, 0xD0, 0xD0)
DEFAULT_BG: RGB = (0x10, 0x12, 0x16)
WATERMARK_RGB: RGB = (0x80, 0x90, 0xA0)
WATERMARK_ALPHA = 56  # of 255: readable on a screenshot, light on the screen
STATUS_BG: RGB = (0x26, 0x2A, 0x33)
BANNER_RGB: RGB = (0xFF, 0xC8, 0x57)
_RUN_CACHE_LIMIT = 4096
# Anti-aliasing in 8 steps for text and 4 for the watermark: a row then has a
# few dozen colours per colour pair, which lossless WebP stores as a palette.
_GLYPH_LEVELS = [round(round(v * 7 / 255) * 255 / 7) for v in range(256)]
_WATERMARK_LEVELS = [round(round(v * 3 / 255) * WATERMARK_ALPHA / 3) for v in range(256)]

_NAMES = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")
_BASE: dict[str, RGB] = {}
for _i, _name in enumerate(_NAMES):
    _BASE[_name] = tuple(int(FG_BG_256[_i][k : k + 2], 16) for k in (0, 2, 4))  # type: ignore[assignment]
    _BASE["bright" + _name] = tuple(int(FG_BG_256[_i + 8][k : k + 2], 16) for k in (0, 2, 4))  # type: ignore[assignment]
_BASE["bfightmagenta"] = _BASE["brightmagenta"]  # pyte 0.8.2 spells SGR 105 so


def colour(name: str, default: RGB, *, bold: bool = False) -> RGB:
    """An RGB triple for a pyte colour: a name, ``rrggbb`` hex, or ``default``."""
    if name == "default":
        return default
    if bold and name in _NAMES:
        name = "bright" + name  # xterm's boldColors: bold brightens the 8 base colours
    base = _BASE.get(name)
    if base is not None:
        return base
    try:
        return (int(name[0:2], 16), int(name[2:4], 16), int(name[4:6], 16))
    except ValueError:
        return default


def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """A TrueType font, or ``UnavailableError`` naming the missing file.

    The file is checked first: given a missing path, Pillow would search the
    system's font folders by file name and might load some other file.
    """
    try:
        if not path.is_file():
            raise FileNotFoundError(path)
        return ImageFont.truetype(str(path), size)
    except OSError as error:
        raise UnavailableError(
            "viewer_font_missing",
            f"the viewer's font {path} cannot be loaded; install fonts-dejavu-core",
        ) from error


class Renderer:
    """Draws rows of pyte cells and the status bar as RGB image strips."""

    def __init__(self, size: int = FONT_SIZE) -> None:
        self.regular = load_font(FONT_REGULAR, size)
        self.bold = load_font(FONT_BOLD, size)
        self.small = load_font(FONT_REGULAR, WATERMARK_SIZE)
        ascent, descent = self.regular.getmetrics()
        self.cell_w = round(self.regular.getlength("M"))
        self.cell_h = ascent + descent
        self.baseline = ascent
        self.status_h = self.cell_h + 4
        self._runs: OrderedDict[tuple[tuple[str, ...], bool], Image.Image] = OrderedDict()
        self._glyphs: dict[tuple[str, bool], Image.Image] = {}
        self._watermark: tuple[tuple[str, int], Image.Image] | None = None

    def watermark_mask(self, text: str, width: int) -> Image.Image:
        """The row watermark: ``text`` repeated across ``width`` pixels, as alpha."""
        key = (text, width)
        if self._watermark is None or self._watermark[0] != key:
            mask = Image.new("L", (width, self.cell_h), 0)
            draw = ImageDraw.Draw(mask)
            step = int(self.small.getlength(text)) + 6 * self.cell_w
            top = (self.cell_h - WATERMARK_SIZE) // 2 - 1
            for x in range(self.cell_w, width, step):
                draw.text((x, top), text, font=self.small, fill=255)
            self._watermark = (key, mask.point(_WATERMARK_LEVELS))
        return self._watermark[1]

    def row(self, cells: Sequence[Char | None], cursor: int, watermark: str) -> Image.Image:
        """One row strip (``None``: a blank cell); ``cursor``: its column here or -1."""
        columns = len(cells)
        line = _Cells(cells)
        width = columns * self.cell_w
        strip = Image.new("RGB", (width, self.cell_h), DEFAULT_BG)
        draw = ImageDraw.Draw(strip)
        blank = Char(" ")
        x = 0
        while x < columns:
            char = line.get(x, blank)
            end = x + 1
            if end < columns and line.get(end, blank).data == "":
                end += 1  # a wide character and its stub cell
            elif char.data.isascii() and x != cursor:
                attrs = char[1:]
                while end < columns and end != cursor:
                    nxt = line.get(end, blank)
                    if nxt[1:] != attrs or not nxt.data.isascii():
                        break
                    end += 1
            self._run(strip, draw, line, x, end, reverse=(x == cursor))
            x = end
        strip.paste(WATERMARK_RGB, (0, 0), self.watermark_mask(watermark, width))
        return strip

    def _run(
        self,
        strip: Image.Image,
        draw: ImageDraw.ImageDraw,
        line: _Cells,
        start: int,
        end: int,
        *,
        reverse: bool,
    ) -> None:
        """Cells ``start..end`` (one attribute set) with background and glyphs."""
        first = line.get(start, Char(" "))
        fg = colour(first.fg, DEFAULT_FG, bold=first.bold)
        bg = colour(first.bg, DEFAULT_BG)
        if first.reverse != reverse:
            fg, bg = bg, fg
        left, right = start * self.cell_w, end * self.cell_w
        if bg != DEFAULT_BG:
            draw.rectangle((left, 0, right - 1, self.cell_h - 1), fill=bg)
        text = tuple(line.get(x, Char(" ")).data or " " for x in range(start, end))
        if any(cell != " " for cell in text):
            mask = self._mask(text, first.bold)
            strip.paste(fg, (left, 0), mask)
        if first.underscore:
            draw.line((left, self.baseline + 1, right - 1, self.baseline + 1), fill=fg)
        if first.strikethrough:
            middle = self.cell_h // 2
            draw.line((left, middle, right - 1, middle), fill=fg)

    def _mask(self, text: tuple[str, ...], bold: bool) -> Image.Image:
        """The glyph alpha of cells' ``text``, one glyph per cell (cached, LRU).

        Glyphs are placed at whole cells: the font's advance is not a whole
        number of pixels, so drawing a run as one string would drift off the
        grid and a row drawn in pieces would differ from one drawn whole.
        """
        key = (text, bold)
        mask = self._runs.get(key)
        if mask is not None:
            self._runs.move_to_end(key)
            return mask
        mask = Image.new("L", (len(text) * self.cell_w, self.cell_h), 0)
        for index, cell in enumerate(text):
            if cell != " ":
                mask.paste(self._glyph(cell, bold), (index * self.cell_w, 0))
        self._runs[key] = mask
        if len(self._runs) > _RUN_CACHE_LIMIT:
            self._runs.popitem(last=False)
        return mask

    def _glyph(self, char: str, bold: bool) -> Image.Image:
        """One cell's alpha (a character and its combining marks), clipped to
        the cell (two cells for a wide character)."""
        key = (char, bold)
        glyph = self._glyphs.get(key)
        if glyph is None:
            cells = 2 if wcwidth(char[0]) == 2 else 1
            glyph = Image.new("L", (cells * self.cell_w, self.cell_h), 0)
            font = self.bold if bold else self.regular
            ImageDraw.Draw(glyph).text((0, 0), char, font=font, fill=255)
            glyph = glyph.point(_GLYPH_LEVELS)
            if len(self._glyphs) >= _RUN_CACHE_LIMIT:
                self._glyphs.clear()
            self._glyphs[key] = glyph
        return glyph

    def status(
        self, width: int, left: str, banner: str | None, right: str, watermark: str
    ) -> Image.Image:
        """The status bar: ``left`` (title), ``banner`` highlighted, ``right``."""
        strip = Image.new("RGB", (width, self.status_h), STATUS_BG)
        draw = ImageDraw.Draw(strip)
        top = (self.status_h - self.cell_h) // 2
        right_w = int(self.regular.getlength(right))
        draw.text((width - right_w - self.cell_w, top), right, font=self.regular, fill=DEFAULT_FG)
        x = self.cell_w
        if banner:
            draw.text((x, top), banner, font=self.bold, fill=BANNER_RGB)
            x += int(self.bold.getlength(banner)) + 2 * self.cell_w
        room = width - right_w - 2 * self.cell_w - x
        draw.text((x, top), fit(left, room, self.regular), font=self.regular, fill=DEFAULT_FG)
        strip.paste(WATERMARK_RGB, (0, top), self.watermark_mask(watermark, width))
        return strip


class _Cells:
    """A row of cells read like pyte's line mapping (``get`` with a default)."""

    __slots__ = ("cells",)

    def __init__(self, cells: Sequence[Char | None]) -> None:
        self.cells = cells

    def get(self, x: int, default: Char) -> Char:
        """The cell at ``x``, or ``default`` for a blank one."""
        return self.cells[x] or default


def fit(text: str, room: int, font: ImageFont.FreeTypeFont) -> str:
    """``text`` cut (with an ellipsis) to at most ``room`` pixels."""
    if room <= 0:
        return ""
    if font.getlength(text) <= room:
        return text
    while text and font.getlength(text + "…") > room:
        text = text[:-1]
    return text + "…" if text else ""


def encode(image: Image.Image) -> bytes:
    """A strip as lossless WebP at the fastest setting (``method=0``).

    Measured against PNG for a 120-column log row (docs/benchmarks.md,
    "Viewer"): WebP finds the row's few colours by itself, so it is about half
    the bytes of an RGB PNG for about the same time, and about the bytes of a
    palette PNG for half the time (the palette had to be checked to be exact).
    """
    out = io.BytesIO()
    image.save(out, format="WEBP", lossless=True, quality=0, method=0)
    return out.getvalue()
