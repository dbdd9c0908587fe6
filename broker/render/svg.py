"""Small server-side SVG charts: horizontal bars, and grouped or stacked columns.

Pure functions of their data, so a page needs no JavaScript to draw them and
a test can parse what they return. Each chart is ``role="img"`` and labelled
by its own ``<title>`` and ``<desc>`` (the desc states the figures in words);
every bar carries a ``<title>`` with its category, series and value, which
browsers show on hover and screen readers read. Pages show ``Chart.rows()``
as a data table beside the picture: the table is the accessible form, the
picture the quick one. Every label is XML-escaped; ``ident`` becomes an id
prefix and keeps only ``[a-z0-9-]``. Colours are the Okabe-Ito palette (told
apart with the common colour-vision deficiencies), each at least 3:1 against
the white background.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html import escape

WIDTH = 640
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
"""Okabe-Ito; yellow left out (too pale on white)."""
FONT = 'font-family="DejaVu Sans, Verdana, sans-serif" font-size="12"'
LABEL_CHARS = 28
_UNSAFE_ID = re.compile(r"[^a-z0-9-]+")
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot carry at all (controls, surrogates, U+FFFE/U+FFFF)."""


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of values, one per category."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """What a chart shows: a title, categories along one axis, one or more series."""

    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    value_label: str = "count"
    category_label: str = ""

    def __post_init__(self) -> None:
        for series in self.series:
            if len(series.values) != len(self.categories):
                raise ValueError(f"series {series.name!r} needs one value per category")

    def rows(self) -> list[tuple[str, ...]]:
        """The data as a table: a header, then one row per category."""
        header = (self.category_label or "category", *(s.name for s in self.series))
        body = [
            (category, *(_number(s.values[n]) for s in self.series))
            for n, category in enumerate(self.categories)
        ]
        return [header, *body]

    def total(self) -> float:
        """The sum of every value."""
        return sum(sum(s.values) for s in self.series)

    def description(self) -> str:
        """The figures in one sentence, for ``<desc>``."""
        if not self.categories or not self.series:
            return f"{self.title}: no data."
        parts = []
        for n, category in enumerate(self.categories):
            values = ", ".join(f"{s.name} {_number(s.values[n])}" for s in self.series)
            parts.append(f"{category}: {values}")
        return f"{self.title}. " + "; ".join(parts) + "."


def safe_id(ident: str) -> str:
    """``ident`` as an id prefix: lower case, ``[a-z0-9-]`` only, never empty."""
    cleaned = _UNSAFE_ID.sub("-", ident.lower()).strip("-")
    return cleaned or "chart"


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (1 for 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def bar_chart(chart: Chart, ident: str, *, titled: bool = True) -> str:
    """Horizontal bars (one series), labels on the left: for long category names.

    ``titled=False`` (either chart) leaves the title out of the picture, where a
    page heading says it; it stays the chart's accessible name."""
    pid = safe_id(ident)
    row, left, right = 26, 200, 56
    height = 48 + row * max(len(chart.categories), 1) + 28
    values = chart.series[0].values if chart.series else ()
    top = nice_max(max(values, default=0))
    scale = (WIDTH - left - right) / top
    parts = [_open(pid, chart, height, titled)]
    for n, category in enumerate(chart.categories):
        y, value = 48 + n * row, values[n]
        label = _short(category)
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{_x(label)}</text>')
        parts.append(_rect(left, y + 3, value * scale, row - 8, PALETTE[0],
                           f"{category}: {_number(value)} {chart.value_label}"))  # fmt: skip
        end = left + value * scale + 6
        parts.append(f'<text x="{end:.1f}" y="{y + 16}">{_number(value)}</text>')
    parts.append(_axis_line(left, 44, left, height - 24))
    parts.append(_empty_note(chart, height))
    parts.append("</svg>")
    return "".join(parts)


def column_chart(chart: Chart, ident: str, *, stacked: bool = False, titled: bool = True) -> str:
    """Vertical columns per category: one per series side by side, or ``stacked``."""
    pid = safe_id(ident)
    height, left, bottom, top_y = 310, 48, 64, 52
    plot_h, plot_w = height - top_y - bottom, WIDTH - left - 16
    ticks = axis_ticks(_peak(chart, stacked), _integral(chart))
    top = ticks[-1]
    band = plot_w / max(len(chart.categories), 1)
    parts = [
        _open(pid, chart, height, titled),
        _y_axis(left, top_y, plot_h, ticks, chart.value_label),
    ]
    for n, category in enumerate(chart.categories):
        parts += _columns(chart, n, left + n * band, band, (top_y, plot_h, top), stacked)
        if n % _label_step(len(chart.categories), plot_w) == 0:
            x = left + n * band + band / 2
            parts.append(
                f'<text x="{x:.1f}" y="{top_y + plot_h + 16}" text-anchor="middle">'
                f"{_x(_short(category, 10))}</text>"
            )
    parts.append(_legend(chart, height - 20) if len(chart.series) > 1 else "")
    parts.append(_empty_note(chart, height))
    parts.append("</svg>")
    return "".join(parts)


def _columns(
    chart: Chart, n: int, x0: float, band: float, frame: tuple[float, float, float], stacked: bool
) -> list[str]:
    """The rects of category ``n``: side by side, or one on another."""
    top_y, plot_h, top = frame
    count = len(chart.series)
    width = band * 0.8 / (1 if stacked else max(count, 1))
    base, parts = 0.0, []
    for k, series in enumerate(chart.series):
        value = series.values[n]
        h = value / top * plot_h
        x = x0 + band * 0.1 + (0 if stacked else k * width)
        y = top_y + plot_h - h - (base if stacked else 0)
        what = f"{chart.categories[n]}, {series.name}: {_number(value)} {chart.value_label}"
        parts.append(_rect(x, y, width, h, PALETTE[k % len(PALETTE)], what))
        base += h
    return parts


def _peak(chart: Chart, stacked: bool) -> float:
    """The tallest column: a category's sum when stacked, else the largest value."""
    if stacked:
        return max((sum(s.values[n] for s in chart.series) for n in range(len(chart.categories))),
                   default=0)  # fmt: skip
    return max((v for s in chart.series for v in s.values), default=0)


def _integral(chart: Chart) -> bool:
    return all(float(v).is_integer() for s in chart.series for v in s.values)


def _open(pid: str, chart: Chart, height: int, titled: bool) -> str:
    """The root element with its accessible name and description, and the title text."""
    shown = (
        f'<text x="8" y="22" font-size="15" font-weight="bold" fill="#1a1a1a">'
        f"{_x(chart.title)}</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%" '
        f'viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{pid}-title {pid}-desc" {FONT}>'
        f'<title id="{pid}-title">{_x(chart.title)}</title>'
        f'<desc id="{pid}-desc">{_x(chart.description())}</desc>'
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>' + (shown if titled else "")
    )


def axis_ticks(peak: float, integral: bool = True) -> list[float]:
    """Round gridline values from 0 up to at or above ``peak``: a 1, 2 or 5 step, at
    most five lines, whole numbers only for counts (``integral``)."""
    step = nice_max(peak / 4) if peak > 0 else 1.0
    if integral:
        step = max(step, 1.0)
    count = max(1, math.ceil(peak / step - 1e-9))
    return [step * k for k in range(count + 1)]


def _y_axis(left: float, top_y: float, plot_h: float, ticks: list[float], label: str) -> str:
    """The value axis: a gridline with its number per tick, and the axis name."""
    parts = [_axis_line(left, top_y, left, top_y + plot_h)]
    for value in ticks:
        y = top_y + plot_h - plot_h * value / ticks[-1]
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - 16}" y2="{y:.1f}" '
                     'stroke="#d0d0d0" stroke-width="1"/>')  # fmt: skip
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{_number(value)}</text>")  # fmt: skip
    parts.append(f'<text x="{left}" y="{top_y - 10}" text-anchor="middle">{_x(label)}</text>')
    return "".join(parts)


def _legend(chart: Chart, y: float) -> str:
    """One swatch and name per series, left to right."""
    parts, x = [], 48.0
    for k, series in enumerate(chart.series):
        colour = PALETTE[k % len(PALETTE)]
        parts.append(f'<rect x="{x:.1f}" y="{y - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16:.1f}" y="{y}">{_x(_short(series.name, 20))}</text>')
        x += 28 + 7 * min(len(series.name), 20)
    return "".join(parts)


def _rect(x: float, y: float, w: float, h: float, fill: str, what: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
        f'fill="{fill}"><title>{_x(what)}</title></rect>'
    )


def _axis_line(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#1a1a1a" stroke-width="1"/>'


def _empty_note(chart: Chart, height: int) -> str:
    if chart.total() > 0:
        return ""
    return (
        f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle" fill="#1a1a1a">'
        "Nothing to show for this period.</text>"
    )


def _label_step(count: int, width: float) -> int:
    """Label every n-th category so that labels (about 44 px each) never overlap."""
    return max(1, math.ceil(count * 44 / width)) if count else 1


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _x(text: str) -> str:
    """Text as XML character data or attribute value (quotes too); what XML cannot
    carry becomes U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", text), quote=True)
