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

from broker.clock import Clock
from broker.errors import ConflictError, UnavailableError
from broker.models import Session
from broker.store.base import (
    GrantRecords,
)
from broker.store.facade import BundleValidator, StoreOps, ThreadedStore
from broker.store.grant_cache import SeenGrants
from broker.store.sqlite import (
    anchors,
    consent_requests,
    consents,
    console,
    importer,
    reference,
    sessions,
    units,
    viewer,
)
from broker.store.sqlite import create as creating
from broker.store.sqlite.schema import connect
from broker.store.sqlite.tx import read_tx
from broker.store.sqlite.worker import SqliteWorker
from broker.typing import (
    StaffId,
    TargetName,
    TicketId,
)

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_FILENAME = "broker.sqlite3"
"""The store's file name inside the state folder."""

OPS: StoreOps[sqlite3.Connection] = StoreOps(
    import_bundle=importer.import_bundle,
    get_org=reference.get_org,
    get_staff=reference.get_staff,
    list_staff=reference.list_staff,
    get_ticket=reference.get_ticket,
    get_target=reference.get_target,
    set_ticket_status=reference.set_ticket_status,
    set_staff_active=reference.set_staff_active,
    add_consent=consents.add_consent,
    get_consent=consents.get_consent,
    list_consents=consents.list_consents,
    valid_consent=consents.valid_consent,
    revoke_consent=consents.revoke_consent,
    get_session=sessions.get_session,
    list_sessions=sessions.list_sessions,
    end_session=sessions.end_session,
    mark_connected=sessions.mark_connected,
    ended_sessions=sessions.ended_sessions,
    add_anchor=anchors.add,
    latest_anchor=anchors.latest,
    anchor_writers=anchors.writers,
    add_viewer_token=viewer.add_viewer_token,
    claim_viewer_token=viewer.claim_viewer_token,
    add_console_session=console.add_console_session,
    touch_console_session=console.touch_console_session,
    end_console_session=console.end_console_session,
    add_consent_request=consent_requests.add_consent_request,
    get_consent_request=consent_requests.get_consent_request,
    list_consent_requests=consent_requests.list_consent_requests,
    decide_consent_request=consent_requests.decide_consent_request,
    expire_consent_requests=consent_requests.expire_consent_requests,
    put_unit=units.put_unit,
    list_units=units.list_units,
    hold_session=units.hold_session,
    held_sessions=units.held_sessions,
)
"""This store's records, as functions of a connection."""


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


class SqliteStore(ThreadedStore[sqlite3.Connection]):
    """A ``Store`` in one SQLite file (``validate_bundle``, ``clock``: see ``ThreadedStore``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        validate_bundle: BundleValidator | None = None,
    ) -> None:
        super().__init__(OPS, clock=clock, validate_bundle=validate_bundle)
        self.path = os.fspath(path)
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

    async def _read(
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

    async def _write(
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
        await self._read(_ping)

    async def close(self) -> None:
        """Finish queued calls, close the connection and stop the worker."""
        if self._closed:
            return
        self._closed = True
        for thread in list(self._readers):
            self._drop_reader(thread)
        self._worker.stop()
        await asyncio.to_thread(self._worker.join)

    async def grant_records(
        self, staff_id: StaffId, ticket_id: TicketId, target: TargetName, at: datetime
    ) -> GrantRecords:
        """The grant's records from one snapshot of the file.

        Records read before are reused when nothing they depend on changed
        since (one statement instead of seven; see ``broker.store.grant_cache``).
        """
        key = (staff_id, ticket_id, target)
        seen = self._seen.get(key, await self._read(creating.world_revision_now), at)
        if seen is not None:
            return seen
        records = await self._read(_grant_records, staff_id, ticket_id, target, at)
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
