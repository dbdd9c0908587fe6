"""The dashboard's charts from the service's figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from broker.console.dashboard import dashboard_charts
from broker.service.dashboard import fold
from broker.typing import Region

START = datetime(2026, 11, 23, tzinfo=UTC)


class TestDashboardCharts:
    """Three charts, each an SVG with its table."""

    def test_three_charts_with_their_figures(self) -> None:
        """Sessions stacked by region per day; denials and egress as bars with tables."""
        records = {
            Region("eu-central-1"): [
                {"event": "session.issued", "time": "2026-11-24T10:00:00.000000Z"},
                {"event": "session.denied", "reasons": ["consent_required"]},
            ],
            Region("us-east-1"): [{"event": "egress.blocked", "kind": "zmodem"}],
        }
        sessions, denials, egress = dashboard_charts(
            fold(START, START + timedelta(days=2), records)
        )
        assert sessions.chart.rows() == [
            ("day (UTC)", "eu-central-1", "us-east-1"),
            ("11-23", "0", "0"),
            ("11-24", "1", "0"),
        ]
        assert denials.chart.rows()[1:] == [("consent_required", "1")]
        assert egress.chart.rows()[1:] == [("zmodem", "1")]
        for shown in (sessions, denials, egress):
            root = ET.fromstring(str(shown.svg))
            assert root.get("aria-labelledby") == f"{shown.ident}-title {shown.ident}-desc"
