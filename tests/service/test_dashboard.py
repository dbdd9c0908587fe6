"""The ops dashboard's figures, folded from the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from broker.audit import AuditQuery
from broker.auth.principal import Principal
from broker.errors import ForbiddenError, InputError
from broker.service.dashboard import DashboardService, fold, period_days
from broker.typing import OrgId, Region, Subject
from tests.service.conftest import Services

OPS = Principal(Subject("ops-1"), "ops")
EU, US = Region("eu-central-1"), Region("us-east-1")
DAY = datetime(2026, 11, 23, tzinfo=UTC)


def record(event: str, time: str, **fields: object) -> dict[str, object]:
    """A stored-looking audit record."""
    return {"event": event, "time": time, **fields}


class TestPeriodDays:
    """The days a period touches."""

    @pytest.mark.parametrize(
        ("start", "end", "count"),
        [
            (DAY, DAY + timedelta(days=1), 1),
            (DAY, DAY + timedelta(days=7), 7),
            (DAY + timedelta(hours=23), DAY + timedelta(hours=25), 2),
            (DAY, DAY + timedelta(seconds=1), 1),
        ],
    )
    def test_days_touched(self, start: datetime, end: datetime, count: int) -> None:
        """An exclusive end at midnight adds no day; a period across midnight has two."""
        days = period_days(start, end)
        assert len(days) == count
        assert days[0] == start.date()


class TestFold:
    """The pure fold over records."""

    def test_counts_sessions_per_region_per_day(self) -> None:
        """Each issued session counts on its UTC day in its region; other days stay zero."""
        records = {
            EU: [
                record("session.issued", "2026-11-23T10:00:00.000000Z"),
                record("session.issued", "2026-11-25T23:59:59.999999Z"),
                record("session.issued", "2026-11-25T00:00:00.000000Z"),
            ],
            US: [record("session.issued", "2026-11-24T12:00:00.000000Z")],
        }
        board = fold(DAY, DAY + timedelta(days=3), records)
        assert board.days == (date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25))
        assert board.sessions == {EU: (1, 0, 2), US: (0, 1, 0)}
        assert board.total_sessions == 4

    def test_denials_count_every_reason_most_first(self) -> None:
        """A denial with two reasons counts under both; the biggest comes first."""
        records = {
            EU: [
                record("session.denied", "2026-11-23T10:00:00.000000Z", reasons=["a", "b"]),
                record("session.denied", "2026-11-23T11:00:00.000000Z", reasons=["b"]),
                record("egress.blocked", "2026-11-23T11:00:00.000000Z", kind="osc52"),
            ]
        }
        board = fold(DAY, DAY + timedelta(days=1), records)
        assert list(board.denials.items()) == [("b", 2), ("a", 1)]
        assert board.blocked == {"osc52": 1}

    def test_empty_regions_still_have_rows(self) -> None:
        """A region with no records shows zeros, not a missing row."""
        board = fold(DAY, DAY + timedelta(days=2), {EU: []})
        assert board.sessions == {EU: (0, 0)}
        assert (board.denials, board.blocked, board.total_sessions) == ({}, {}, 0)


class TestDashboardService:
    """The figures from a real audit trail, through the audit service."""

    async def test_reads_every_region_for_the_period(self, services: Services) -> None:
        """Events emitted in two regions and on two days land in the right cells."""
        emit = services.auditor.emit
        emit("session.issued", region=EU, session_id="s1", org_id=OrgId("acme-de"))
        emit("session.denied", region=EU, reasons=["consent_required"])
        emit("egress.blocked", region=US, kind="zmodem")
        services.clock.advance(86_400)
        emit("session.issued", region=US, session_id="s2")
        start = services.clock.now() - timedelta(days=2)
        board = await DashboardService(services.audit).summary(
            OPS, start, services.clock.now() + timedelta(seconds=1)
        )
        assert board.sessions[EU][-2:] == (1, 0)
        assert board.sessions[US][-2:] == (0, 1)
        assert board.denials == {"consent_required": 1}
        assert board.blocked == {"zmodem": 1}
        assert set(board.sessions) == set(services.ctx.config.regions)

    async def test_engineers_are_forbidden(self, services: Services) -> None:
        """The dashboard is for ops and admins."""
        engineer = Principal(Subject("eng-de-1"), "engineer")
        with pytest.raises(ForbiddenError):
            await DashboardService(services.audit).summary(engineer, DAY, DAY + timedelta(1))

    @pytest.mark.parametrize("days", [0, -1, 93])
    async def test_bad_periods_name_the_field(self, services: Services, days: int) -> None:
        """An empty, reversed or longer-than-a-quarter period is refused as ``to``."""
        with pytest.raises(InputError) as caught:
            await DashboardService(services.audit).summary(OPS, DAY, DAY + timedelta(days))
        assert caught.value.field == "to"


class TestAuditServiceForOps:
    """The audit service's reads the console's ops pages use."""

    async def test_verify_all_reports_every_region(self, services: Services) -> None:
        """One verify result per chain (region and writer); a region nobody wrote yet has none."""
        services.auditor.emit("session.denied", region=EU, reasons=["x"])
        results = await services.audit.verify_all(OPS)
        assert [(r.region, r.writer) for r in results] == [(EU, services.auditor.writer)]
        assert all(r.ok for r in results)
        assert results[0].records == 1

    async def test_all_records_pages_through_everything(self, services: Services) -> None:
        """Every matching record, however many pages the reader would need."""
        for n in range(5):
            services.auditor.emit("egress.blocked", region=US, kind=f"k{n}")
        query = AuditQuery(event="egress.blocked", limit=2)
        found = await services.audit.all_records(OPS, US, query)
        assert [r["kind"] for r in found] == [f"k{n}" for n in range(5)]

    async def test_verify_all_is_for_ops(self, services: Services) -> None:
        """A customer admin gets no view of the chains."""
        admin = Principal(Subject("cust-1"), "customer_admin", OrgId("acme-de"))
        with pytest.raises(ForbiddenError):
            await services.audit.verify_all(admin)
