"""The grant's read: ``grant_records`` follows every change, and its revision guards the insert.

A store may reuse records it read before (SQLite does, see
``broker.store.grant_cache``), so these tests read, change, and read again:
whatever a store keeps, the second read must show the change. A store that
returns a ``revision`` also passes ``RevisionContract``: it refuses an insert
made over records that changed since they were read, and its
``recent_grant_records`` hands back the last read without reading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from broker.errors import ConflictError, InputError, NotFoundError
from broker.store.base import GrantRecords, ImportBundle, Store
from tests.store.contract_base import StoreHarness
from tests.store.world import (
    ORG_DE,
    STAFF_DE,
    STAFF_US,
    T0,
    TARGET_DE,
    TICKET_DE,
    consent,
    session,
)

Change = Callable[[Store], Awaitable[Any]]
Seen = Callable[[GrantRecords], object]


async def read(store: Store, staff: Any = STAFF_DE, at: Any = T0) -> GrantRecords:
    """The grant records of ``staff`` on ticket-de / web at ``at``."""
    return await store.grant_records(staff.id, TICKET_DE.id, TARGET_DE.name, at)


async def revoke_new_consent(store: Store) -> None:
    """Add a consent, let a read see it, then revoke it."""
    await store.add_consent(consent())
    assert (await read(store, STAFF_US)).consent is not None
    await store.revoke_consent(consent().id, T0)


def upsert(**records: Any) -> Change:
    """An import of ``records`` (lists by kind), as a change."""
    return lambda store: store.import_bundle(ImportBundle(**records))


CHANGES = [
    pytest.param(
        upsert(staff=[dataclasses.replace(STAFF_DE, country="FR")]),
        lambda r: r.staff.country,
        "FR",
        id="staff-country",
    ),
    pytest.param(
        lambda s: s.set_staff_active(STAFF_DE.id, False, T0), lambda r: r.staff.active, False,
        id="staff-inactive",
    ),
    pytest.param(
        lambda s: s.set_ticket_status(TICKET_DE.id, "closed", T0), lambda r: r.ticket.status,
        "closed", id="ticket-closed",
    ),
    pytest.param(
        upsert(orgs=[dataclasses.replace(ORG_DE, tier="eea_only")]),
        lambda r: r.org.tier,
        "eea_only",
        id="org-tier",
    ),
    pytest.param(
        upsert(targets=[dataclasses.replace(TARGET_DE, port=2200)]),
        lambda r: r.target.port,
        2200,
        id="target-port",
    ),
]  # fmt: skip


class GrantReadContract(StoreHarness):
    """What a grant reads is never older than the last change."""

    @pytest.mark.parametrize(("change", "seen", "expected"), CHANGES)
    async def test_second_read_shows_the_change(
        self, store: Store, change: Change, seen: Seen, expected: object
    ) -> None:
        """Read, change a record the grant depends on, read again: the change shows."""
        before = await read(store)
        assert seen(before) != expected
        await change(store)
        assert seen(await read(store)) == expected

    async def test_new_and_revoked_consents_show(self, store: Store) -> None:
        """A consent added after a read appears; once revoked, it is gone."""
        assert (await read(store, STAFF_US)).consent is None
        await revoke_new_consent(store)
        assert (await read(store, STAFF_US)).consent is None

    async def test_consent_expiry_needs_no_write(self, store: Store) -> None:
        """The consent is valid before its expiry and absent after, for any read order."""
        given = await store.add_consent(consent())
        later = T0 + timedelta(hours=2)
        assert (await read(store, STAFF_US, later)).consent is None
        assert (await read(store, STAFF_US, T0)).consent == given
        assert (await read(store, STAFF_US, later)).consent is None
        assert (await read(store, STAFF_US, T0)).consent == given

    async def test_unrepresentable_expiry_is_refused(self, store: Store) -> None:
        """A consent whose expiry no read could turn back into a time is not stored."""
        late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=23)))
        with pytest.raises(InputError) as caught:
            await store.add_consent(consent(expires_at=late))
        assert caught.value.field == "expires_at"
        assert await store.list_consents(TICKET_DE.id) == []

    async def test_recent_records_carry_a_revision_or_are_none(self, store: Store) -> None:
        """Recent records (read without asking the backing system) come only with a revision:
        without one, nothing could refuse an insert made over them once stale."""
        await read(store)
        recent = store.recent_grant_records(STAFF_DE.id, TICKET_DE.id, TARGET_DE.name, T0)
        assert recent is None or recent.revision is not None


def recent(store: Store, staff: Any = STAFF_DE, at: Any = T0) -> GrantRecords | None:
    """``recent_grant_records`` of ``staff`` on ticket-de / web at ``at``."""
    return store.recent_grant_records(staff.id, TICKET_DE.id, TARGET_DE.name, at)


class RevisionContract(StoreHarness):
    """For a store that keeps a revision of the grant's records (SQLite does)."""

    async def test_changed_records_refuse_the_insert(self, store: Store) -> None:
        """An insert over records that changed since the read is refused; nothing written."""
        records = await read(store)
        assert records.revision is not None
        await store.set_staff_active(STAFF_US.id, False, T0)  # any record, not only these
        with pytest.raises(ConflictError) as refused:
            await store.create_session(session(), world_revision=records.revision)
        assert refused.value.code == "world_changed"
        with pytest.raises(NotFoundError):
            await store.get_session(session().id)
        fresh = await read(store)
        assert await store.create_session(session(), world_revision=fresh.revision) == session()

    async def test_sessions_leave_the_revision_alone(self, store: Store) -> None:
        """Issuing and ending sessions changes nothing a grant reads: the revision stays."""
        records = await read(store)
        await store.create_session(session(), world_revision=records.revision)
        await store.end_session(session().id, "revoked", "test", T0 + timedelta(minutes=1))
        assert (await read(store)).revision == records.revision

    async def test_recent_records_are_the_last_read(self, store: Store) -> None:
        """Before any read there are none; after one, the same records, with no read."""
        assert recent(store) is None
        records = await read(store)
        assert recent(store) == records

    async def test_stale_recent_records_cannot_be_recorded_over(self, store: Store) -> None:
        """After a change, recent records are the old ones; their revision refuses the insert."""
        records = await read(store)
        await store.set_staff_active(STAFF_US.id, False, T0)  # any record, not only these
        stale = recent(store)
        assert stale is not None
        assert stale == records
        with pytest.raises(ConflictError) as refused:
            await store.create_session(session(), world_revision=stale.revision)
        assert refused.value.code == "world_changed"

    async def test_recent_records_follow_the_clock(self, store: Store) -> None:
        """An expired consent is gone from recent records; an earlier moment gets none."""
        await store.add_consent(consent())
        assert (await read(store, STAFF_US)).consent is not None
        later = recent(store, STAFF_US, T0 + timedelta(hours=2))
        assert later is not None
        assert later.consent is None
        assert recent(store, STAFF_US, T0 - timedelta(seconds=1)) is None
