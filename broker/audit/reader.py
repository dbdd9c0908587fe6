"""Read a region's audit trail back: all its chains merged, filters and cursor pages for ops.

Reading does not verify (``broker.audit.verify`` does); it trusts nothing
either: a torn last line is skipped. A region has one chain per writer; their
records come back merged in time order, ties broken by writer then ``seq``
(a k-way merge of the chains, each read in chain order). The same
``AuditQuery`` serves ``broker audit show`` and the ``GET /v1/audit`` API:
``after`` plus ``limit`` pages through a trail, and ``Page.next_after`` is the
cursor for the next page.

The cursor is where the merge stood: the last ``seq`` taken from each chain
(``Cursor``, text ``writer:seq,...``). The merge's state is nothing more, so
the next page goes on exactly where the last stopped, and a record chained
while someone pages (by a live writer, or a writer new to the region) is
never skipped or repeated: it comes after its chain's position.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from broker.audit.catalog import check_event_type, format_time
from broker.audit.chains import region_chains
from broker.audit.segments import list_segments
from broker.errors import InputError
from broker.state import MAIN_WRITER, WRITER_ID
from broker.typing import WriterId

_KEY = re.compile(rb'\{"seq":(\d+),"time":"([^"\\]*)"')
MAX_SEQ = 2**63 - 1
"""The largest ``seq`` a cursor can name."""
MAX_CURSOR = 4096
"""The longest cursor text accepted."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a merged read stands: the last ``seq`` taken from each chain (others: none)."""

    positions: tuple[tuple[WriterId, int], ...] = ()

    @classmethod
    def of(cls, positions: Mapping[WriterId, int]) -> Cursor:
        """The cursor for these positions (a chain at 0 is left out)."""
        return cls(tuple(sorted((w, seq) for w, seq in positions.items() if seq > 0)))

    def after(self, writer: WriterId) -> int:
        """The last ``seq`` taken from ``writer``'s chain (0: none)."""
        return dict(self.positions).get(writer, 0)

    def encode(self) -> str:
        """The cursor as text: ``writer:seq`` pairs joined by commas, by writer."""
        return ",".join(f"{writer}:{seq}" for writer, seq in self.positions)

    @classmethod
    def parse(cls, text: str, name: str = "cursor") -> Cursor:
        """The cursor ``encode`` wrote; a bare number (from before writers) is ``main``'s.

        Anything else is an ``InputError`` on ``name``."""
        if len(text) > MAX_CURSOR:
            raise InputError(name, "is too long")
        pairs = [f"{MAIN_WRITER}:{text}"] if text.isdigit() else text.split(",")
        positions: dict[WriterId, int] = {}
        for pair in pairs:
            writer, _, seq = pair.partition(":")
            if WRITER_ID.fullmatch(writer) is None or writer in positions:
                raise InputError(name, "is not a cursor this API gave out")
            if not seq.isdigit() or not seq.isascii() or int(seq) > MAX_SEQ:
                raise InputError(name, "is not a cursor this API gave out")
            positions[WriterId(writer)] = int(seq)
        return cls.of(positions)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters (all optional, combined with AND); ``since`` inclusive, ``until`` exclusive."""

    session_id: str | None = None
    ticket_id: str | None = None
    org_id: str | None = None
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: Cursor = field(default_factory=Cursor)
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
    next_after: Cursor | None


Keyed = tuple[str, WriterId, int, bytes]
"""A record line with its merge key: (time, writer, seq, line)."""


def iter_lines(directory: Path, writer: WriterId, after_seq: int = 0) -> Iterator[Keyed]:
    """Every complete record line of one chain with ``seq`` above ``after_seq``, in chain order."""
    for _, path in list_segments(directory):
        with path.open("rb") as stream:
            for raw in stream:
                match = _KEY.match(raw)
                if not raw.endswith(b"\n") or match is None:
                    continue
                seq = int(match.group(1))
                if seq > after_seq:
                    yield match.group(2).decode(), writer, seq, raw


def query_chains(chains: Mapping[WriterId, Path], query: AuditQuery) -> Page:
    """The records of these chains that match ``query``, merged, one page of them."""
    needles = query.needles()
    positions = dict(query.after.positions)
    found: list[dict[str, Any]] = []
    streams = [iter_lines(folder, w, query.after.after(w)) for w, folder in chains.items()]
    for _, writer, seq, raw in heapq.merge(*streams):
        if all(needle in raw for needle in needles):
            record = json.loads(raw)
            if query.matches(record):
                if query.limit is not None and len(found) == query.limit:
                    return Page(found, Cursor.of(positions))
                found.append(record)
        positions[writer] = seq
    return Page(found, None)


def query_directory(directory: Path, query: AuditQuery, writer: WriterId = MAIN_WRITER) -> Page:
    """``query_chains`` of one chain folder."""
    return query_chains({writer: directory}, query)


def query_region(state_dir: Path, region: str, query: AuditQuery) -> Page:
    """``query_chains`` of every chain of ``region``."""
    return query_chains(region_chains(state_dir, region), query)
