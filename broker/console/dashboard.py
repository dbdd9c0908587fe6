"""The ops dashboard's three charts, from the service's figures.

Sessions per region per day are stacked columns (the total per day reads as
the column's height, each region as its colour); denials and blocked egress
are horizontal bars, whose long reason codes fit on the left. Each chart
comes with its data table (``Chart.rows``), which the page shows beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from markupsafe import Markup

from broker.render.svg import Chart, Series, bar_chart, column_chart
from broker.service.dashboard import Dashboard


@dataclass(frozen=True, slots=True)
class ShownChart:
    """A chart as the page shows it: its id, the SVG, and the same figures as a table."""

    ident: str
    chart: Chart
    svg: Markup


def dashboard_charts(board: Dashboard) -> list[ShownChart]:
    """Sessions per region per day; denials by reason; blocked egress by kind."""
    days = tuple(day.strftime("%m-%d") for day in board.days)
    sessions = Chart(
        "Sessions per region per day",
        days,
        tuple(
            Series(region, tuple(map(float, counts))) for region, counts in board.sessions.items()
        ),
        "sessions",
        "day (UTC)",
    )
    denials = _bars("Denials by reason", board.denials, "denials", "reason")
    blocked = _bars("Blocked egress by kind", board.blocked, "blocked", "kind")
    return [
        ShownChart(
            "sessions",
            sessions,
            _svg(column_chart(sessions, "sessions", stacked=True, titled=False)),
        ),
        ShownChart("denials", denials, _svg(bar_chart(denials, "denials", titled=False))),
        ShownChart("egress", blocked, _svg(bar_chart(blocked, "egress", titled=False))),
    ]


def _svg(text: str) -> Markup:
    """An SVG of ``broker.render.svg`` as markup: every label in it is already escaped."""
    return Markup(text)  # noqa: S704 - built from XML-escaped text only


def _bars(title: str, counts: Mapping[str, int], label: str, category: str) -> Chart:
    return Chart(
        title, tuple(counts), (Series(label, tuple(map(float, counts.values()))),), label, category
    )
