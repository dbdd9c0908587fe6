"""Ops' dashboard figures, folded from the audit trail of every region.

The figures are what the trail proves happened, not what the store holds
now: a session counts on the day its ``session.issued`` event was written,
in the region whose chain holds it; denials count per reason (a denial with
two reasons counts under both); blocked egress per kind. ``fold`` is pure;
``DashboardService`` reads the records through ``AuditService``, so the same
role checks and flushes apply as to any other read of the trail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from broker.audit import AuditQuery
from broker.auth.principal import Principal
from broker.errors import InputError
from broker.service.audit import AuditService
from broker.service.authz import require_role
from broker.typing import Region

MAX_DAYS = 92
"""The longest period one dashboard covers (a quarter): every day is a bar."""

EVENTS = ("session.issued", "session.denied", "egress.blocked")
"""The events the dashboard counts."""


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Counts for ``[start, end)``: sessions per region per day, denials, blocked egress."""

    start: datetime
    end: datetime
    days: tuple[date, ...]
    sessions: Mapping[Region, tuple[int, ...]]
    """Per region, one count per day of ``days``."""
    denials: Mapping[str, int]
    blocked: Mapping[str, int]

    @property
    def total_sessions(self) -> int:
        """Sessions issued in the period, every region."""
        return sum(sum(counts) for counts in self.sessions.values())


def period_days(start: datetime, end: datetime) -> tuple[date, ...]:
    """The UTC days ``[start, end)`` touches, in order."""
    first, last = start.astimezone(UTC).date(), (end - _TICK).astimezone(UTC).date()
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


_TICK = timedelta(microseconds=1)


def check_period(start: datetime, end: datetime) -> None:
    """Refuse an empty, reversed or over-long period, naming the field."""
    if end <= start:
        raise InputError("to", "must be after from")
    if end - start > timedelta(days=MAX_DAYS):
        raise InputError("to", f"the period may span at most {MAX_DAYS} days")


def fold(
    start: datetime,
    end: datetime,
    records: Mapping[Region, Iterable[Mapping[str, Any]]],
) -> Dashboard:
    """The dashboard over each region's records (any events; others are ignored)."""
    days = period_days(start, end)
    index = {day.isoformat(): n for n, day in enumerate(days)}
    sessions: dict[Region, list[int]] = {}
    denials: Counter[str] = Counter()
    blocked: Counter[str] = Counter()
    for region, found in records.items():
        counts = sessions.setdefault(region, [0] * len(days))
        for record in found:
            event = record.get("event")
            if event == "session.issued":
                day = index.get(str(record.get("time", ""))[:10])
                if day is not None:
                    counts[day] += 1
            elif event == "session.denied":
                denials.update(str(reason) for reason in record.get("reasons") or ())
            elif event == "egress.blocked":
                blocked[str(record.get("kind", "unknown"))] += 1
    return Dashboard(
        start,
        end,
        days,
        {region: tuple(counts) for region, counts in sessions.items()},
        dict(sorted(denials.items(), key=lambda item: (-item[1], item[0]))),
        dict(sorted(blocked.items(), key=lambda item: (-item[1], item[0]))),
    )


class DashboardService:
    """The ops dashboard, from the audit trail through ``AuditService``."""

    def __init__(self, audit: AuditService) -> None:
        self.audit = audit

    async def summary(self, principal: Principal, start: datetime, end: datetime) -> Dashboard:
        """Every region's figures for ``[start, end)``; ops and admins only."""
        require_role(principal, "ops", "admin")
        check_period(start, end)
        records: dict[Region, list[dict[str, Any]]] = {}
        for region in self.audit.ctx.config.regions:
            found = records.setdefault(region, [])
            for event in EVENTS:
                query = AuditQuery(event=event, since=start, until=end)
                found += await self.audit.all_records(principal, region, query)
        return fold(start, end, records)
