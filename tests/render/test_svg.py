"""The server-side SVG charts: well-formed, labelled for screen readers, escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.render.svg import (
    Chart,
    Series,
    axis_ticks,
    bar_chart,
    column_chart,
    nice_max,
    safe_id,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
labels = st.text(max_size=40)
counts = st.integers(min_value=0, max_value=10**6)


@st.composite
def charts(draw: st.DrawFn) -> Chart:
    """Any chart: 0-12 categories, 1-4 series, any label text."""
    categories = tuple(draw(st.lists(labels, max_size=12)))
    names = draw(st.lists(labels, min_size=1, max_size=4))
    series = tuple(
        Series(name, tuple(draw(st.lists(counts, min_size=len(categories),
                                         max_size=len(categories)))))
        for name in names
    )  # fmt: skip
    return Chart(draw(labels), categories, series, draw(labels), draw(labels))


def parse(svg: str) -> ET.Element:
    """The SVG as an element tree (raises on malformed XML)."""
    return ET.fromstring(svg)


def as_read(text: str) -> str:
    """What an XML reader gets back for ``text``: unencodable characters as U+FFFD and
    line ends normalised, as XML 1.0 prescribes."""
    kept = "".join(
        c if c in "\t\n\r" or ("\x20" <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd")
        or c >= "\U00010000" else "\ufffd"
        for c in text
    )  # fmt: skip
    return kept.replace("\r\n", "\n").replace("\r", "\n")


def render(chart: Chart, kind: str) -> str:
    """One of the three chart forms."""
    if kind == "bar":
        return bar_chart(chart, "c")
    return column_chart(chart, "c", stacked=kind == "stacked")


KINDS = ["bar", "grouped", "stacked"]
RELAXED = settings(deadline=None)
"""Rendering is fast, but the test machine is shared: no per-example deadline."""


class TestWellFormed:
    """Whatever the data, the output is XML an SVG reader accepts."""

    @pytest.mark.parametrize("kind", KINDS)
    @RELAXED
    @given(chart=charts())
    def test_any_chart_parses(self, kind: str, chart: Chart) -> None:
        """Any labels (quotes, angle brackets, controls, astral characters) and counts."""
        root = parse(render(chart, kind))
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert (root.find("svg:title", NS).text or "") == as_read(chart.title)

    @pytest.mark.parametrize("kind", KINDS)
    @RELAXED
    @given(chart=charts())
    def test_every_bar_has_a_title(self, kind: str, chart: Chart) -> None:
        """Each data rect carries a <title> naming its value; the count matches the data."""
        root = parse(render(chart, kind))
        bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.find("svg:title", NS)
                is not None]  # fmt: skip
        expected = len(chart.categories) * (1 if kind == "bar" else len(chart.series))
        assert len(bars) == expected

    @pytest.mark.parametrize("kind", KINDS)
    def test_empty_and_zero_data(self, kind: str) -> None:
        """No categories, or only zeros, draws axes and says there is nothing to show."""
        for chart in (
            Chart("Empty", (), (Series("a", ()),)),
            Chart("Zeros", ("x", "y"), (Series("a", (0, 0)),)),
        ):
            svg = render(chart, kind)
            parse(svg)
            assert "Nothing to show for this period." in svg


class TestScreenReaders:
    """The picture is named and described; the table holds the same figures."""

    def test_labelled_by_its_title_and_desc(self) -> None:
        """role=img, aria-labelledby pointing at the title and desc ids that exist."""
        chart = Chart("Denials by reason", ("consent_required",), (Series("denials", (3,)),))
        root = parse(bar_chart(chart, "Denials!"))
        assert root.get("role") == "img"
        ids = root.get("aria-labelledby").split()
        assert ids == ["denials-title", "denials-desc"]
        assert root.find("svg:title", NS).get("id") == "denials-title"
        desc = root.find("svg:desc", NS)
        assert desc.get("id") == "denials-desc"
        assert desc.text == "Denials by reason. consent_required: denials 3."

    @pytest.mark.parametrize("kind", KINDS)
    def test_untitled_keeps_the_accessible_name(self, kind: str) -> None:
        """``titled=False`` drops the drawn title text, never the <title>."""
        chart = Chart("Blocked egress", ("osc52",), (Series("blocked", (1,)),))
        drawn = (
            bar_chart(chart, "e")
            if kind == "bar"
            else column_chart(chart, "e", stacked=kind == "stacked")
        )
        bare = (bar_chart(chart, "e", titled=False) if kind == "bar"
                else column_chart(chart, "e", stacked=kind == "stacked", titled=False))  # fmt: skip
        assert drawn.count("Blocked egress") == bare.count("Blocked egress") + 1
        assert parse(bare).find("svg:title", NS).text == "Blocked egress"

    def test_rows_are_the_data_table(self) -> None:
        """A header row, then one row per category with a value per series."""
        chart = Chart("S", ("d1", "d2"), (Series("eu", (1, 2)), Series("us", (0, 5))), "n", "day")
        assert chart.rows() == [("day", "eu", "us"), ("d1", "1", "0"), ("d2", "2", "5")]

    def test_stacked_columns_stack(self) -> None:
        """A stacked column's parts meet: the second starts where the first ends."""
        chart = Chart("S", ("d1",), (Series("eu", (2,)), Series("us", (2,))))
        root = parse(column_chart(chart, "s", stacked=True))
        first, second = (r for r in root.iter("{http://www.w3.org/2000/svg}rect")
                         if r.find("svg:title", NS) is not None)  # fmt: skip
        assert float(second.get("y")) + float(second.get("height")) == pytest.approx(
            float(first.get("y"))
        )
        assert first.get("x") == second.get("x")


class TestEscaping:
    """Labels are text, never markup."""

    @RELAXED
    @given(label=labels)
    def test_labels_never_become_elements(self, label: str) -> None:
        """A label full of markup adds no element: the tree has the same shape as for "x"."""
        chart = Chart(label, (label,), (Series(label, (1,)),), label, label)
        plain = Chart("x", ("x",), (Series("x", (1,)),), "x", "x")
        for kind in KINDS:
            tags = [e.tag for e in parse(render(chart, kind)).iter()]
            assert tags == [e.tag for e in parse(render(plain, kind)).iter()]

    def test_script_label_is_escaped(self) -> None:
        """The literal text survives, escaped, and no script element appears."""
        svg = bar_chart(Chart('<script>"x"</script>', ("a",), (Series("s", (1,)),)), "c")
        assert "<script>" not in svg
        assert "&lt;script&gt;&quot;x&quot;&lt;/script&gt;" in svg

    @pytest.mark.parametrize(
        ("raw", "clean"),
        [("Denials", "denials"), ("a b/c", "a-b-c"), ("", "chart"), ('"><x', "x")],
    )
    def test_ids_are_safe(self, raw: str, clean: str) -> None:
        """An id prefix keeps [a-z0-9-] only and is never empty."""
        assert safe_id(raw) == clean


class TestScale:
    """The value axis ends at a round number at or above the largest value."""

    @pytest.mark.parametrize(
        ("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (250, 500), (0.3, 0.5)]
    )
    def test_nice_max(self, value: float, top: float) -> None:
        """1, 2 or 5 times a power of ten."""
        assert nice_max(value) == pytest.approx(top)

    @given(value=st.just(0.0) | st.floats(min_value=1e-6, max_value=1e12))
    def test_nice_max_covers(self, value: float) -> None:
        """Never below the value, never more than ten times it (above 0; counts and
        shares are far above the range where floats lose their exponent)."""
        top = nice_max(value)
        assert top >= value
        assert value == 0 or top <= value * 10

    @pytest.mark.parametrize(
        ("peak", "integral", "ticks"),
        [
            (0, True, [0, 1]),
            (1, True, [0, 1]),
            (5, True, [0, 2, 4, 6]),
            (7, True, [0, 2, 4, 6, 8]),
            (40, True, [0, 10, 20, 30, 40]),
            (1, False, [0, 0.5, 1]),
        ],
    )
    def test_axis_ticks(self, peak: float, integral: bool, ticks: list[float]) -> None:
        """Round steps reaching the peak; counts get whole-number gridlines only."""
        assert axis_ticks(peak, integral) == pytest.approx(ticks)

    @given(peak=st.integers(min_value=0, max_value=10**9))
    def test_ticks_cover_counts_in_few_lines(self, peak: int) -> None:
        """At or above the peak, at most six lines, whole numbers."""
        ticks = axis_ticks(peak)
        assert ticks[-1] >= peak
        assert len(ticks) <= 6
        assert all(t == int(t) for t in ticks)

    def test_mismatched_series_is_refused(self) -> None:
        """A series with too few values is a programming error, caught at once."""
        with pytest.raises(ValueError, match="one value per category"):
            Chart("t", ("a", "b"), (Series("s", (1,)),))
