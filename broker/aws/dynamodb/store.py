"""The scale-out store: one DynamoDB table behind the async ``Store`` interface.

boto3 is synchronous, so every operation runs on a small thread pool. Every
state transition is a ``TransactWriteItems`` whose conditions carry its
preconditions; cascades (revoking a consent, closing a ticket, deactivating
staff) and imports are single transactions too. Lost races are retried with
jitter; lasting refusals become ``ConflictError``/``NotFoundError``/``InputError``
exactly as in the SQLite store, and any failure to reach DynamoDB becomes
``UnavailableError``. The item layout is documented in ``codec``;
the async facade is ``broker.store.facade.ThreadedStore``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Concatenate, ParamSpec, TypeVar

from broker.aws.clients import ClientFactory
from broker.aws.dynamodb import (
    anchors,
    consent_requests,
    console,
    reference,
    sessions,
    units,
    viewer,
)
from broker.aws.dynamodb.codec import TABLE_SCHEMA
from broker.aws.dynamodb.importer import import_bundle
from broker.aws.dynamodb.table import Table
from broker.clock import Clock
from broker.errors import UnavailableError
from broker.models import Session
from broker.store.base import (
    GrantRecords,
)
from broker.store.facade import BundleValidator, StoreOps, ThreadedStore
from broker.typing import (
    Region,
    StaffId,
    TargetName,
    TicketId,
)

P = ParamSpec("P")
R = TypeVar("R")

OPS: StoreOps[Table] = StoreOps(
    import_bundle=import_bundle,
    get_org=reference.get_org,
    get_staff=reference.get_staff,
    list_staff=reference.list_staff,
    get_ticket=reference.get_ticket,
    get_target=reference.get_target,
    set_ticket_status=reference.set_ticket_status,
    set_staff_active=reference.set_staff_active,
    add_consent=reference.add_consent,
    get_consent=reference.get_consent,
    list_consents=reference.list_consents,
    valid_consent=reference.valid_consent,
    revoke_consent=reference.revoke_consent,
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
"""This store's records, as functions of the table."""


class DynamoStore(ThreadedStore[Table]):
    """A ``Store`` in the DynamoDB table ``table`` of ``region`` (the control plane's)."""

    def __init__(
        self,
        clients: ClientFactory,
        region: Region,
        table: str,
        *,
        clock: Clock | None = None,
        validate_bundle: BundleValidator | None = None,
        workers: int = 8,
    ) -> None:
        super().__init__(OPS, clock=clock, validate_bundle=validate_bundle)
        self.table = Table(clients.client("dynamodb", region), table)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="dynamo-store")
        self._closed = False

    async def _read(
        self, fn: Callable[Concatenate[Table, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run ``fn(table, ...)`` on the pool: reads and writes alike are one boto3 call."""
        if self._closed:
            raise UnavailableError("store_closed", "the store is closed")
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, self.table, *args, **kwargs)
        return await loop.run_in_executor(self._pool, call)

    _write = _read

    def create_table(self) -> None:
        """Create the table and wait for it (dev and tests; infra/ creates it for real)."""
        self.table.call("create_table", **TABLE_SCHEMA)
        self.table.client.get_waiter("table_exists").wait(TableName=self.table.name)

    async def ping(self) -> None:
        """Raise ``UnavailableError`` unless the table answers."""
        await self._read(lambda table: table.call("describe_table"))

    async def close(self) -> None:
        """Stop accepting calls and let running ones finish."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._pool.shutdown, True)

    async def grant_records(
        self, staff_id: StaffId, ticket_id: TicketId, target: TargetName, at: datetime
    ) -> GrantRecords:
        """The grant's records in two rounds of concurrent reads (each a network trip)."""
        staff, ticket, consent = await asyncio.gather(
            self.get_staff(staff_id),
            self.get_ticket(ticket_id),
            self.valid_consent(ticket_id, staff_id, at),
        )
        org, found = await asyncio.gather(
            self.get_org(ticket.org_id), self.get_target(ticket.org_id, target)
        )
        return GrantRecords(staff, ticket, org, found, consent)

    async def create_session(
        self, session: Session, *, world_revision: int | None = None
    ) -> Session:
        """Insert an ``issued`` session if ticket, staff, target and consent still allow it.

        This store keeps no revision (its ``GrantRecords.revision`` is None), so
        ``world_revision`` is never one of its own and is ignored."""
        return await self._write(sessions.create_session, session)
