"""The grant's records as last read, reused while nothing they depend on changed.

A grant reads staff, ticket, org, target and the pair's best consent: five
lookups that are the same for every grant of one engineer on one ticket and
target until someone changes one of those records. The store keeps a
revision of them all (``GrantRecords.revision``); an entry is reused only
while the store's current revision equals the one it was read at, and the
session insert re-checks that revision atomically, so a decision is never
recorded over records that changed after it was made.

Time is the one thing that changes them without a write: the consent read
was the unrevoked one expiring last, so once it has expired none is valid;
and an entry is never used for an earlier moment than it was read at.

``recent`` skips the revision check (and so the store read it costs): a
grant may decide over recent records because its insert re-checks their
revision, and a denial is decided again over fresh ones
(``SessionService.grant``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from broker.store.base import GrantRecords
from broker.typing import StaffId, TargetName, TicketId

GrantKey = tuple[StaffId, TicketId, TargetName]
MAX_ENTRIES = 4096


class SeenGrants:
    """Grant records by (staff, ticket, target), each with the moment it was read at."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[GrantKey, tuple[GrantRecords, datetime]] = {}
        self._max = max_entries

    def get(self, key: GrantKey, revision: int, at: datetime) -> GrantRecords | None:
        """The records for ``key`` as valid at ``at``, if read at ``revision``; else None."""
        records = self.recent(key, at)
        return records if records is not None and records.revision == revision else None

    def recent(self, key: GrantKey, at: datetime) -> GrantRecords | None:
        """The records for ``key`` as valid at ``at`` when last read, at any revision."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        records, read_at = entry
        if at < read_at:
            return None
        if records.consent is not None and records.consent.expires_at <= at:
            return replace(records, consent=None)
        return records

    def put(self, key: GrantKey, records: GrantRecords, at: datetime) -> None:
        """Remember ``records`` (read at ``at``) when they carry a revision."""
        if records.revision is None:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()  # crude, but bounded and O(1) per call
        self._entries[key] = (records, at)
