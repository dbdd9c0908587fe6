"""Read a region's audit trail back: filters and seq-cursor pages for ops.

Reading does not verify (``broker.audit.verify`` does); it trusts nothing
either: a torn last line is skipped. Records come back in chain order. The
same ``AuditQuery`` serves ``broker audit show`` and the ``GET /v1/audit`` API:
``after_seq`` plus ``limit`` pages through a trail, and ``Page.next_after`` is
the cursor for the next page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from broker.audit.catalog import check_event_type, format_time
from broker.audit.segments import list_segments
from broker.errors import InputError
from broker.state import StateLayout

_SEQ = re.compile(rb'\{"seq":(\d+),')


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters (all optional, combined with AND); ``since`` inclusive, ``until`` exclusive."""

    session_id: str | None = None
    ticket_id: str | None = None
    org_id: str | None = None
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int | None = None
    staff_id: str | None = None
    """Records about this staff member or by them (``staff_id`` or ``actor``)."""

    def __post_init__(self) -> None:
        if self.event is not None:
            check_event_type(self.event)
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise InputError(name, "needs a timezone offset")
        if self.limit is not None and self.limit < 1:
            raise InputError("limit", "must be at least 1")
        if self.after_seq < 0:
            raise InputError("after_seq", "must not be negative")

    def needles(self) -> list[bytes]:
        """Byte strings a matching line must contain: a cheap test before parsing."""
        pairs = (("session_id", self.session_id), ("ticket_id", self.ticket_id),
                 ("org_id", self.org_id), ("event", self.event))  # fmt: skip
        found = [
            f"{json.dumps(key)}:{json.dumps(value)}".encode()
            for key, value in pairs
            if value is not None
        ]
        if self.staff_id is not None:  # in a staff_id or an actor field: the value at least
            found.append(json.dumps(self.staff_id).encode())
        return found

    def matches(self, record: dict[str, Any]) -> bool:
        """Does a parsed record pass every filter?"""
        wanted = (("session_id", self.session_id), ("ticket_id", self.ticket_id),
                  ("org_id", self.org_id), ("event", self.event))  # fmt: skip
        if any(value is not None and record.get(key) != value for key, value in wanted):
            return False
        if self.staff_id is not None and self.staff_id not in (
            record.get("staff_id"),
            record.get("actor"),
        ):
            return False
        time = str(record.get("time", ""))
        # stored times are fixed-width UTC text, so text order is time order
        if self.since is not None and time < format_time(self.since):
            return False
        return self.until is None or time < format_time(self.until)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records; ``next_after`` is the cursor for the next, if any."""

    records: list[dict[str, Any]]
    next_after: int | None


def iter_lines(directory: Path, after_seq: int = 0) -> Iterator[bytes]:
    """Every complete record line with ``seq`` above ``after_seq``, in chain order."""
    for _, path in list_segments(directory):
        with path.open("rb") as stream:
            for raw in stream:
                match = _SEQ.match(raw)
                if not raw.endswith(b"\n") or match is None:
                    continue
                if int(match.group(1)) > after_seq:
                    yield raw


def query_directory(directory: Path, query: AuditQuery) -> Page:
    """The records of one chain directory that match ``query``, one page of them."""
    needles = query.needles()
    found: list[dict[str, Any]] = []
    for raw in iter_lines(directory, query.after_seq):
        if not all(needle in raw for needle in needles):
            continue
        record = json.loads(raw)
        if not query.matches(record):
            continue
        if query.limit is not None and len(found) == query.limit:
            return Page(found, found[-1]["seq"])
        found.append(record)
    return Page(found, None)


def query_region(state_dir: Path, region: str, query: AuditQuery) -> Page:
    """``query_directory`` on ``<state>/regions/<region>/audit``."""
    return query_directory(StateLayout(state_dir).audit(region), query)
