"""The renderer: rows of cells become pixels, always watermarked."""

from pathlib import Path

import pytest
from PIL import ImageChops
from pyte.screens import Char

from broker.errors import UnavailableError
from broker.viewer import render
from broker.viewer.render import DEFAULT_BG, DEFAULT_FG, Renderer, colour, load_font

MARK = "staff-7 · 0f3c-session · 2026-12-04 15:31Z"


@pytest.fixture(scope="module")
def renderer():
    return Renderer()


def row_of(text, columns=20, **attrs):
    """Cells for ``text`` with the same attributes, padded with blanks."""
    return [Char(c, **attrs) for c in text] + [None] * (columns - len(text))


def differs(a, b):
    """Whether two images differ in any pixel."""
    return ImageChops.difference(a, b).getbbox() is not None


class TestFont:
    """The font is required: no font, no viewer."""

    def test_missing_font_fails_closed(self):
        """A missing font file is an ``UnavailableError`` naming the package."""
        with pytest.raises(UnavailableError) as caught:
            load_font(Path("/nonexistent/DejaVuSansMono.ttf"), 15)
        assert caught.value.code == "viewer_font_missing"
        assert "fonts-dejavu-core" in caught.value.reason

    def test_cell_size(self, renderer):
        """A monospace cell of sensible size; the status bar is a little taller."""
        assert 7 <= renderer.cell_w <= 12
        assert 14 <= renderer.cell_h <= 24
        assert renderer.status_h > renderer.cell_h


class TestColour:
    """pyte's colour names, 256-colour and truecolor values."""

    @pytest.mark.parametrize(
        ("name", "bold", "expected"),
        [
            ("default", False, DEFAULT_FG),
            ("red", False, (0xCD, 0x00, 0x00)),
            ("red", True, (0xFF, 0x00, 0x00)),  # bold brightens the base eight
            ("brightblue", False, (0x5C, 0x5C, 0xFF)),
            ("bfightmagenta", False, (0xFF, 0x00, 0xFF)),  # pyte's spelling of SGR 105
            ("ff8700", False, (0xFF, 0x87, 0x00)),
            ("0a141e", True, (0x0A, 0x14, 0x1E)),
            ("nonsense", False, DEFAULT_FG),
        ],
    )
    def test_colour(self, name, bold, expected):
        """Names, bold brightening and hex values map to RGB."""
        assert colour(name, DEFAULT_FG, bold=bold) == expected


class TestRow:
    """One row strip: text, colours, attributes, cursor and watermark in the pixels."""

    def test_size(self, renderer):
        """A strip is columns x cell width by one cell high."""
        strip = renderer.row(row_of(""), -1, MARK)
        assert strip.size == (20 * renderer.cell_w, renderer.cell_h)

    def test_text_differs_from_blank(self, renderer):
        """A row with text is not the blank row."""
        assert differs(renderer.row(row_of("hello"), -1, MARK), renderer.row(row_of(""), -1, MARK))

    def test_watermark_present(self, renderer):
        """Even a blank row carries the watermark: not a flat background, and a
        different staff id gives different pixels."""
        blank = renderer.row(row_of(""), -1, MARK)
        assert len(blank.getcolors(10_000)) > 1
        other = renderer.row(row_of(""), -1, MARK.replace("staff-7", "staff-8"))
        assert differs(blank, other)

    def test_watermark_is_light(self, renderer):
        """The watermark stays well below the text's contrast."""
        blank = renderer.row(row_of(""), -1, MARK)
        brightest = max(sum(pixel) for _count, pixel in blank.getcolors(10_000))
        assert brightest < sum(DEFAULT_FG) // 2

    def test_cursor_drawn(self, renderer):
        """The cursor is a block: its cell is filled with the text colour."""
        plain = renderer.row(row_of("ab"), -1, MARK)
        with_cursor = renderer.row(row_of("ab"), 3, MARK)
        assert differs(plain, with_cursor)
        corner = (3 * renderer.cell_w, 0)
        assert with_cursor.getpixel(corner) == DEFAULT_FG
        assert plain.getpixel(corner) == DEFAULT_BG

    @pytest.mark.parametrize(
        ("attrs", "expected"),
        [
            ({"bg": "ff8700"}, (0xFF, 0x87, 0x00)),
            ({"bg": "blue"}, (0x00, 0x00, 0xEE)),
            ({"reverse": True}, DEFAULT_FG),
            ({"reverse": True, "fg": "green"}, (0x00, 0xCD, 0x00)),
        ],
    )
    def test_background(self, renderer, attrs, expected):
        """Background colours (256, truecolor, reverse video) fill the cell."""
        strip = renderer.row(row_of("x", **attrs), -1, MARK)
        assert strip.getpixel((0, 0)) == expected
        assert strip.getpixel((renderer.cell_w, 0)) == DEFAULT_BG

    def test_bold_and_underline(self, renderer):
        """Bold and underline change the pixels; underline draws a text-coloured line."""
        regular = renderer.row(row_of("abc"), -1, MARK)
        assert differs(regular, renderer.row(row_of("abc", bold=True), -1, MARK))
        underlined = renderer.row(row_of("abc", underscore=True), -1, MARK)
        assert underlined.getpixel((1, renderer.baseline + 1)) == DEFAULT_FG

    def test_foreground_colour(self, renderer):
        """Red text has red pixels and no default-coloured ones."""
        strip = renderer.row(row_of("MMMM", fg="ff0000"), -1, MARK)
        colours = {pixel for _count, pixel in strip.getcolors(10_000)}
        assert (0xFF, 0x00, 0x00) in colours
        assert DEFAULT_FG not in colours

    def test_wide_characters_keep_the_grid(self, renderer):
        """A wide character with its stub takes two cells; what follows stays aligned."""
        wide = [Char("日"), Char(""), Char("x")] + [None] * 17
        narrow = [Char(" "), Char(" "), Char("x")] + [None] * 17
        a = renderer.row(wide, -1, MARK)
        b = renderer.row(narrow, -1, MARK)
        right = (2 * renderer.cell_w, 0, 20 * renderer.cell_w, renderer.cell_h)
        assert not differs(a.crop(right), b.crop(right))

    def test_same_cells_same_pixels(self, renderer):
        """Rendering is deterministic (the run cache changes nothing)."""
        cells = row_of("cache me", fg="cyan")
        assert not differs(renderer.row(cells, 2, MARK), renderer.row(cells, 2, MARK))


class TestStatus:
    """The status bar draws text that must never leave as text."""

    def test_title_and_banner_drawn(self, renderer):
        """Title, banner and watchers each change the status bar's pixels."""
        base = renderer.status(400, "", None, "", MARK)
        assert differs(base, renderer.status(400, "my title", None, "", MARK))
        assert differs(base, renderer.status(400, "", "Session ended", "", MARK))
        assert differs(base, renderer.status(400, "", None, "watching: s-1", MARK))

    def test_fit_cuts_with_ellipsis(self, renderer):
        """Text too wide for its room is cut and ends in an ellipsis."""
        cut = render.fit("x" * 200, 100, renderer.regular)
        assert cut.endswith("…")
        assert renderer.regular.getlength(cut) <= 100
