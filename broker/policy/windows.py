"""Support windows (routing, not access): when a ticket is due to be worked.

docs/design.md, support hours: for ``eea_only`` (scope ``product``), severity 1 is served 24/7;
severities 2-4 Monday-Friday 09:00-18:00 on the Europe/Berlin wall clock, and
what arrives outside is due from the next window's opening. ``standard`` (and
scopes that fall back to it) follows global service levels: always open.

The window is half-open: 09:00 is open, 18:00 is closed. Opening times are
built as Berlin wall-clock times with ``zoneinfo``, so they carry the right
offset on both sides of a DST switch (09:00 never falls in a DST gap or fold).
Unknown tier, scope or severity, or a naive time, gives a closed window with no
known opening: nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from broker.policy.routing import effective_tier
from broker.typing import SCOPES, TIERS

BERLIN = ZoneInfo("Europe/Berlin")
OPENS = time(9, 0)
CLOSES = time(18, 0)
_SEARCH_DAYS = 400  # a year of holidays and weekends still finds the next opening
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SupportWindow:
    """Whether support is open at a time and, when closed, when it next opens."""

    open_now: bool
    next_open: datetime | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields; ``next_open`` as ISO 8601 with the Berlin offset."""
        opening = None if self.next_open is None else self.next_open.isoformat()
        return {"open_now": self.open_now, "next_open": opening}


ALWAYS_OPEN = SupportWindow(True, None)
UNKNOWN = SupportWindow(False, None)


def support_window(
    tier: str,
    scope: str,
    severity: int,
    at: datetime,
    holidays: frozenset[date] = frozenset(),
) -> SupportWindow:
    """The support window for a ticket at ``at``; ``holidays`` are Berlin dates."""
    if tier not in TIERS or scope not in SCOPES or severity not in (1, 2, 3, 4):
        return UNKNOWN
    if at.utcoffset() is None:
        return UNKNOWN
    if effective_tier(tier, scope) == "standard" or severity == 1:
        return ALWAYS_OPEN
    local = at.astimezone(BERLIN)
    if _working_day(local.date(), holidays) and OPENS <= local.time() < CLOSES:
        return ALWAYS_OPEN
    return SupportWindow(False, _next_opening(local, holidays))


def open_now(
    tier: str, scope: str, severity: int, at: datetime, holidays: frozenset[date] = frozenset()
) -> bool:
    """True when the ticket's support window is open at ``at``."""
    return support_window(tier, scope, severity, at, holidays).open_now


def next_open(
    tier: str, scope: str, severity: int, at: datetime, holidays: frozenset[date] = frozenset()
) -> datetime | None:
    """The next opening (Berlin time), or None when open now or unknown."""
    return support_window(tier, scope, severity, at, holidays).next_open


def _working_day(day: date, holidays: frozenset[date]) -> bool:
    """Monday to Friday and not a holiday."""
    return day.weekday() < 5 and day not in holidays


def _next_opening(local: datetime, holidays: frozenset[date]) -> datetime | None:
    """09:00 Berlin on the next working day (today, when it is before 09:00)."""
    day = local.date() if local.time() < OPENS else local.date() + _DAY
    for _ in range(_SEARCH_DAYS):
        if _working_day(day, holidays):
            return datetime.combine(day, OPENS, tzinfo=BERLIN)
        day += _DAY
    return None
