"""The scale-out store: one DynamoDB table behind the async ``Store`` interface.

boto3 is synchronous, so every operation runs on a small thread pool. Every
state transition is a ``TransactWriteItems`` whose conditions carry its
preconditions; cascades (revoking a consent, closing a ticket, deactivating
staff) and imports are single transactions too. Lost races are retried with
jitter; lasting refusals become ``ConflictError``/``NotFoundError``/``InputError``
exactly as in the SQLite store, and any failure to reach DynamoDB becomes
``UnavailableError``. The item layout is documented in ``dynamodb_codec``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from broker.aws.clients import ClientFactory
from broker.clock import Clock, SystemClock
from broker.errors import UnavailableError
from broker.models import Anchor, Consent, Org, Session, Staff, Target, Ticket, ViewerToken
from broker.store import anchors
from broker.store import dynamodb_reference as reference
from broker.store import dynamodb_sessions as sessions
from broker.store.base import (
    GrantRecords,
    ImportBundle,
    ImportCounts,
    Page,
    Revoked,
    SessionQuery,
)
from broker.store.codec import to_micros
from broker.store.dynamodb_codec import TABLE_SCHEMA
from broker.store.dynamodb_import import import_bundle
from broker.store.dynamodb_table import Table
from broker.store.dynamodb_viewer import add_viewer_token, claim_viewer_token
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

R = TypeVar("R")
BundleValidator = Callable[[ImportBundle], None]


class DynamoStore:
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
        self.table = Table(clients.client("dynamodb", region), table)
        self._clock: Clock = clock or SystemClock()
        self._validate_bundle = validate_bundle
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="dynamo-store")
        self._closed = False

    async def _run(self, fn: Callable[..., R], *args: Any) -> R:
        if self._closed:
            raise UnavailableError("store_closed", "the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, self.table, *args))

    def create_table(self) -> None:
        """Create the table and wait for it (dev and tests; infra/ creates it for real)."""
        self.table.call("create_table", **TABLE_SCHEMA)
        self.table.client.get_waiter("table_exists").wait(TableName=self.table.name)

    async def ping(self) -> None:
        """Raise ``UnavailableError`` unless the table answers."""
        await self._run(lambda table: table.call("describe_table"))

    async def close(self) -> None:
        """Stop accepting calls and let running ones finish."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._pool.shutdown, True)

    async def import_bundle(self, bundle: ImportBundle) -> ImportCounts:
        """Upsert every record in one transaction; all or nothing."""
        if self._validate_bundle is not None:
            self._validate_bundle(bundle)
        return await self._run(import_bundle, bundle, to_micros(self._clock.now(), "at"))

    async def get_org(self, org_id: OrgId) -> Org:
        """The org, or ``NotFoundError``."""
        return await self._run(reference.get_org, org_id)

    async def get_staff(self, staff_id: StaffId) -> Staff:
        """The staff member, or ``NotFoundError``."""
        return await self._run(reference.get_staff, staff_id)

    async def list_staff(self) -> list[Staff]:
        """Every staff member, by id."""
        return await self._run(reference.list_staff)

    async def get_ticket(self, ticket_id: TicketId) -> Ticket:
        """The ticket, or ``NotFoundError``."""
        return await self._run(reference.get_ticket, ticket_id)

    async def get_target(self, org_id: OrgId, name: TargetName) -> Target:
        """The org's target of that name, or ``NotFoundError``."""
        return await self._run(reference.get_target, org_id, name)

    async def set_ticket_status(
        self, ticket_id: TicketId, status: TicketStatus, at: datetime
    ) -> Revoked[Ticket]:
        """Set the status; closing revokes the ticket's live sessions."""
        return await self._run(reference.set_ticket_status, ticket_id, status, at)

    async def set_staff_active(
        self, staff_id: StaffId, active: bool, at: datetime
    ) -> Revoked[Staff]:
        """Set ``active``; deactivating revokes the staff member's live sessions."""
        return await self._run(reference.set_staff_active, staff_id, active, at)

    async def add_consent(self, consent: Consent) -> Consent:
        """Store a new consent; the ticket (of the consent's org) and staff must exist."""
        return await self._run(reference.add_consent, consent)

    async def get_consent(self, consent_id: ConsentId) -> Consent:
        """The consent, or ``NotFoundError``."""
        return await self._run(reference.get_consent, consent_id)

    async def list_consents(self, ticket_id: TicketId) -> list[Consent]:
        """Every consent of the ticket, newest first."""
        return await self._run(reference.list_consents, ticket_id)

    async def valid_consent(
        self, ticket_id: TicketId, staff_id: StaffId, at: datetime
    ) -> Consent | None:
        """The unrevoked consent for this pair valid at ``at`` expiring last."""
        return await self._run(reference.valid_consent, ticket_id, staff_id, at)

    async def revoke_consent(self, consent_id: ConsentId, at: datetime) -> Revoked[Consent]:
        """Revoke once (``ConflictError`` if already revoked) and its live sessions."""
        return await self._run(reference.revoke_consent, consent_id, at)

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

    def recent_grant_records(
        self, staff_id: StaffId, ticket_id: TicketId, target: TargetName, at: datetime
    ) -> GrantRecords | None:
        """None: this store keeps no revision, so every grant reads afresh."""
        return None

    async def create_session(
        self, session: Session, *, world_revision: int | None = None
    ) -> Session:
        """Insert an ``issued`` session if ticket, staff, target and consent still allow it.

        This store keeps no revision (its ``GrantRecords.revision`` is None), so
        ``world_revision`` is never one of its own and is ignored."""
        return await self._run(sessions.create_session, session)

    async def get_session(self, session_id: SessionId) -> Session:
        """The session, or ``NotFoundError``."""
        return await self._run(sessions.get_session, session_id, self._clock.now())

    async def list_sessions(self, query: SessionQuery) -> Page[Session]:
        """Sessions matching ``query``, newest first, paginated."""
        return await self._run(sessions.list_sessions, query, self._clock.now())

    async def end_session(
        self, session_id: SessionId, state: SessionState, reason: str, at: datetime
    ) -> Session:
        """Move a live session to ``revoked``/``closed``/``expired`` once."""
        return await self._run(sessions.end_session, session_id, state, reason, at)

    async def mark_connected(self, session_id: SessionId, at: datetime) -> Session:
        """``issued`` -> ``connected``; ``ConflictError`` if not issued and unexpired."""
        return await self._run(sessions.mark_connected, session_id, at)

    async def ended_sessions(self, region: Region, since: int) -> tuple[int, list[Session]]:
        """Sessions of ``region`` that ended (revoked, closed, expired) after revision ``since``."""
        return await self._run(sessions.ended_sessions, region, since)

    async def add_anchor(self, anchor: Anchor) -> None:
        """Append one audit anchor; ``ConflictError`` if its number is taken."""
        await self._run(anchors.dynamo_add, anchor)

    async def latest_anchor(self, region: Region) -> Anchor | None:
        """The anchor of ``region`` with the highest number, or None."""
        return await self._run(anchors.dynamo_latest, region)

    # -- viewer links ---------------------------------------------------
    async def add_viewer_token(self, token: ViewerToken) -> None:
        """Store a new, unclaimed viewer token (its digest only)."""
        await self._run(add_viewer_token, token)

    async def claim_viewer_token(
        self, digest: TokenDigest, region: Region, at: datetime
    ) -> ViewerToken:
        """Claim the token once, at ``region``'s viewer, before it expires."""
        return await self._run(claim_viewer_token, digest, region, at)
