"""The embedded store: one SQLite file in WAL mode behind the async ``Store`` interface.

All database work runs on ONE dedicated worker thread (``SqliteWorker``) that
owns the store's one connection: it is opened once, its prepared statements
stay cached, and writes serialise. Writes are conditional statements inside
``BEGIN IMMEDIATE`` transactions, so they also hold against other connections
to the same file (another broker process, another ``SqliteStore``), which
SQLite serialises with its write lock. Failures to use the file surface as
``UnavailableError``.

Reads run on the caller's thread, on a reader connection of that thread's
own: the store may be used from any thread's event loop (the gateway's
watcher polls from a thread of its own, see ``broker.gateway.watch_thread``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Concatenate, ParamSpec, TypeVar

from broker.clock import Clock, SystemClock
from broker.errors import ConflictError, UnavailableError
from broker.models import Anchor, Consent, Org, Session, Staff, Target, Ticket, ViewerToken
from broker.store import anchors
from broker.store import sqlite_consents as consents
from broker.store import sqlite_create as creating
from broker.store import sqlite_import as importer
from broker.store import sqlite_reference as reference
from broker.store import sqlite_sessions as sessions
from broker.store import sqlite_viewer as viewer
from broker.store.base import (
    GrantRecords,
    ImportBundle,
    ImportCounts,
    Page,
    Revoked,
    SessionQuery,
)
from broker.store.codec import to_micros
from broker.store.grant_cache import SeenGrants
from broker.store.schema import connect
from broker.store.sqlite_tx import read_tx
from broker.store.sqlite_worker import SqliteWorker
from broker.typing import (
    ConsentId,
    OrgId,
    Region,
    SessionId,
    SessionState,
    StaffId,
    TargetName,
    TicketId,
    TicketStatus,
    TokenDigest,
)

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_FILENAME = "broker.sqlite3"
"""The store's file name inside the state folder."""

BundleValidator = Callable[[ImportBundle], None]
"""Checks a bundle before import and raises ``InputError`` naming the field."""


def _ping(conn: sqlite3.Connection) -> None:
    # Reading a table (not just "SELECT 1") proves the file itself is readable.
    conn.execute("SELECT value FROM counters LIMIT 1").fetchone()


def _grant_records(
    conn: sqlite3.Connection,
    staff_id: StaffId,
    ticket_id: TicketId,
    target: TargetName,
    at: datetime,
) -> GrantRecords:
    with read_tx(conn):
        staff = reference.get_staff(conn, staff_id)
        ticket = reference.get_ticket(conn, ticket_id)
        return GrantRecords(
            staff,
            ticket,
            reference.get_org(conn, ticket.org_id),
            reference.get_target(conn, ticket.org_id, target),
            consents.valid_consent(conn, ticket_id, staff_id, at),
            creating.world_revision_now(conn),
        )


class SqliteStore:
    """A ``Store`` in one SQLite file.

    ``validate_bundle`` runs before every import: the broker passes the
    policy's bundle check there (e.g. an ``eea_only`` org must sit in an EEA
    region), which this module deliberately does not know. ``clock`` stamps
    sessions that an import revokes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        validate_bundle: BundleValidator | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._clock: Clock = clock or SystemClock()
        self._validate_bundle = validate_bundle
        self._worker = SqliteWorker(self.path)
        self._closed = False
        # Thread id -> that thread's reader; each is used only on its own thread.
        self._readers: dict[int, sqlite3.Connection] = {}
        self._seen = SeenGrants()

    async def __aenter__(self) -> SqliteStore:
        """Use as ``async with SqliteStore(path) as store``."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close on leaving the block."""
        await self.close()

    async def _call(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run the read ``fn(connection, ...)`` right here, on a reader connection.

        A WAL reader never waits for the writer, and a point read costs less
        than the hop to the worker thread and back; writes (and the conditions
        that guard them) stay on the worker, so reads here only feed decisions
        that the conditional write re-checks.
        """
        if self._closed:
            raise UnavailableError("store_closed", "the store is closed")
        thread = threading.get_ident()
        reader = self._readers.get(thread)
        if reader is None:
            await self._submit(False, _ping)  # the worker creates or migrates the schema
            # Any thread may close it (``close``); only this thread reads on it.
            reader = self._readers[thread] = connect(self.path, check_same_thread=False)
        try:
            return fn(reader, *args, **kwargs)
        except sqlite3.IntegrityError as exc:
            raise ConflictError("store_conflict", "the read conflicts with stored data") from exc
        except sqlite3.Error as exc:
            self._drop_reader(thread)
            raise UnavailableError("store_unavailable", "the store file cannot be used") from exc

    def _drop_reader(self, thread: int) -> None:
        reader = self._readers.pop(thread, None)
        if reader is not None:
            with contextlib.suppress(sqlite3.Error):
                reader.close()

    async def _call_write(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run the write ``fn(connection, ...)`` on the worker thread."""
        return await self._submit(True, lambda conn: fn(conn, *args, **kwargs))

    async def _submit(self, write: bool, work: Callable[[sqlite3.Connection], R]) -> R:
        if self._closed:
            raise UnavailableError("store_closed", "the store is closed")
        result: R = await self._worker.submit(work, write=write)
        return result

    async def ping(self) -> None:
        """Raise ``UnavailableError`` unless the store file answers."""
        await self._call(_ping)

    async def close(self) -> None:
        """Finish queued calls, close the connection and stop the worker."""
        if self._closed:
            return
        self._closed = True
        for thread in list(self._readers):
            self._drop_reader(thread)
        self._worker.stop()
        await asyncio.to_thread(self._worker.join)

    # -- reference data -------------------------------------------------
    async def import_bundle(self, bundle: ImportBundle) -> ImportCounts:
        """Upsert every record in one transaction; all or nothing."""
        if self._validate_bundle is not None:
            self._validate_bundle(bundle)
        at = to_micros(self._clock.now(), "at")
        return await self._call_write(importer.import_bundle, bundle, at)

    async def get_org(self, org_id: OrgId) -> Org:
        """The org, or ``NotFoundError``."""
        return await self._call(reference.get_org, org_id)

    async def get_staff(self, staff_id: StaffId) -> Staff:
        """The staff member, or ``NotFoundError``."""
        return await self._call(reference.get_staff, staff_id)

    async def list_staff(self) -> list[Staff]:
        """Every staff member, by id."""
        return await self._call(reference.list_staff)

    async def get_ticket(self, ticket_id: TicketId) -> Ticket:
        """The ticket, or ``NotFoundError``."""
        return await self._call(reference.get_ticket, ticket_id)

    async def get_target(self, org_id: OrgId, name: TargetName) -> Target:
        """The org's target of that name, or ``NotFoundError``."""
        return await self._call(reference.get_target, org_id, name)

    async def set_ticket_status(
        self, ticket_id: TicketId, status: TicketStatus, at: datetime
    ) -> Revoked[Ticket]:
        """Set the status; closing revokes the ticket's live sessions."""
        return await self._call_write(reference.set_ticket_status, ticket_id, status, at)

    async def set_staff_active(
        self, staff_id: StaffId, active: bool, at: datetime
    ) -> Revoked[Staff]:
        """Set ``active``; deactivating revokes the staff member's live sessions."""
        return await self._call_write(reference.set_staff_active, staff_id, active, at)

    # -- consents -------------------------------------------------------
    async def add_consent(self, consent: Consent) -> Consent:
        """Store a new consent; the ticket (of the consent's org) and staff must exist."""
        return await self._call_write(consents.add_consent, consent)

    async def get_consent(self, consent_id: ConsentId) -> Consent:
        """The consent, or ``NotFoundError``."""
        return await self._call(consents.get_consent, consent_id)

    async def list_consents(self, ticket_id: TicketId) -> list[Consent]:
        """Every consent of the ticket, newest first."""
        return await self._call(consents.list_consents, ticket_id)

    async def valid_consent(
        self, ticket_id: TicketId, staff_id: StaffId, at: datetime
    ) -> Consent | None:
        """The unrevoked consent for this pair valid at ``at`` expiring last."""
        return await self._call(consents.valid_consent, ticket_id, staff_id, at)

    async def revoke_consent(self, consent_id: ConsentId, at: datetime) -> Revoked[Consent]:
        """Revoke once (``ConflictError`` if already revoked) and its live sessions."""
        return await self._call_write(consents.revoke_consent, consent_id, at)

    async def grant_records(
        self, staff_id: StaffId, ticket_id: TicketId, target: TargetName, at: datetime
    ) -> GrantRecords:
        """The grant's records from one snapshot of the file.

        Records read before are reused when nothing they depend on changed
        since (one statement instead of seven; see ``broker.store.grant_cache``).
        """
        key = (staff_id, ticket_id, target)
        seen = self._seen.get(key, await self._call(creating.world_revision_now), at)
        if seen is not None:
            return seen
        records = await self._call(_grant_records, staff_id, ticket_id, target, at)
        self._seen.put(key, records, at)
        return records

    def recent_grant_records(
        self, staff_id: StaffId, ticket_id: TicketId, target: TargetName, at: datetime
    ) -> GrantRecords | None:
        """The records last read for these ids, at whatever revision (no statement)."""
        return self._seen.recent((staff_id, ticket_id, target), at)

    # -- sessions -------------------------------------------------------
    async def create_session(
        self, session: Session, *, world_revision: int | None = None
    ) -> Session:
        """Insert an ``issued`` session if ticket, staff, target and consent still allow it
        (and, given ``world_revision``, if none of the records a grant reads changed)."""
        return await self._submit(True, creating.SessionInsert(session, world_revision))

    async def get_session(self, session_id: SessionId) -> Session:
        """The session, or ``NotFoundError``."""
        return await self._call(sessions.get_session, session_id, self._clock.now())

    async def list_sessions(self, query: SessionQuery) -> Page[Session]:
        """Sessions matching ``query``, newest first, paginated."""
        return await self._call(sessions.list_sessions, query, self._clock.now())

    async def end_session(
        self, session_id: SessionId, state: SessionState, reason: str, at: datetime
    ) -> Session:
        """Move a live session to ``revoked``/``closed``/``expired`` once."""
        return await self._call_write(sessions.end_session, session_id, state, reason, at)

    async def mark_connected(self, session_id: SessionId, at: datetime) -> Session:
        """``issued`` -> ``connected``; ``ConflictError`` if not issued and unexpired."""
        return await self._call_write(sessions.mark_connected, session_id, at)

    async def ended_sessions(self, region: Region, since: int) -> tuple[int, list[Session]]:
        """Sessions of ``region`` that ended (revoked, closed, expired) after revision ``since``."""
        return await self._call(sessions.ended_sessions, region, since)

    async def add_anchor(self, anchor: Anchor) -> None:
        """Append one audit anchor; ``ConflictError`` if its number is taken."""
        await self._call_write(anchors.sqlite_add, anchor)

    async def latest_anchor(self, region: Region) -> Anchor | None:
        """The anchor of ``region`` with the highest number, or None."""
        return await self._call(anchors.sqlite_latest, region)

    # -- viewer links ---------------------------------------------------
    async def add_viewer_token(self, token: ViewerToken) -> None:
        """Store a new, unclaimed viewer token (its digest only)."""
        await self._call_write(viewer.add_viewer_token, token)

    async def claim_viewer_token(
        self, digest: TokenDigest, region: Region, at: datetime
    ) -> ViewerToken:
        """Claim the token once, at ``region``'s viewer, before it expires."""
        return await self._call_write(viewer.claim_viewer_token, digest, region, at)
