"""The async ``Store`` facade both stores share over their synchronous backends.

SQLite and DynamoDB (boto3) are synchronous; each store keeps its records in
plain functions of a backend handle (a connection, a table) and decides where
they run: on a reader connection or the one writer thread (SQLite), on a
thread pool (DynamoDB). ``ThreadedStore`` holds everything else once: the
bundle check before an import, the clock that stamps it, and the one-line
delegation of each ``Store`` operation to the backend's function, as a read
or a write. A backend supplies its functions as a ``StoreOps`` table.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Concatenate, Generic, ParamSpec, TypeVar

from broker.clock import Clock, SystemClock
from broker.models import (
    Anchor,
    Consent,
    ConsentRequest,
    ConsoleSession,
    Org,
    Session,
    Staff,
    Target,
    Ticket,
    ViewerToken,
)
from broker.state import MAIN_WRITER
from broker.store.base import (
    ConsentRequestDecision,
    ConsentRequestQuery,
    GrantRecords,
    ImportBundle,
    ImportCounts,
    Page,
    Revoked,
    SessionQuery,
)
from broker.store.encoding import to_micros
from broker.store.units import UnitRecord
from broker.typing import (
    ConsentId,
    ConsentRequestId,
    ConsoleKind,
    OrgId,
    Region,
    SessionId,
    SessionState,
    StaffId,
    TargetName,
    TicketId,
    TicketStatus,
    TokenDigest,
    UnitId,
    WriterId,
)

H = TypeVar("H")
P = ParamSpec("P")
R = TypeVar("R")

BundleValidator = Callable[[ImportBundle], None]
"""Checks a bundle before import and raises ``InputError`` naming the field."""


@dataclass(frozen=True, slots=True)
class StoreOps(Generic[H]):
    """A backend's functions, each taking the backend handle ``H`` first."""

    import_bundle: Callable[[H, ImportBundle, int], ImportCounts]
    get_org: Callable[[H, OrgId], Org]
    get_staff: Callable[[H, StaffId], Staff]
    list_staff: Callable[[H], list[Staff]]
    get_ticket: Callable[[H, TicketId], Ticket]
    get_target: Callable[[H, OrgId, TargetName], Target]
    set_ticket_status: Callable[[H, TicketId, TicketStatus, datetime], Revoked[Ticket]]
    set_staff_active: Callable[[H, StaffId, bool, datetime], Revoked[Staff]]
    add_consent: Callable[[H, Consent], Consent]
    get_consent: Callable[[H, ConsentId], Consent]
    list_consents: Callable[[H, TicketId], list[Consent]]
    valid_consent: Callable[[H, TicketId, StaffId, datetime], Consent | None]
    revoke_consent: Callable[[H, ConsentId, datetime], Revoked[Consent]]
    get_session: Callable[[H, SessionId, datetime], Session]
    list_sessions: Callable[[H, SessionQuery, datetime], Page[Session]]
    end_session: Callable[[H, SessionId, SessionState, str, datetime], Session]
    mark_connected: Callable[[H, SessionId, datetime], Session]
    ended_sessions: Callable[[H, Region, int], tuple[int, list[Session]]]
    add_anchor: Callable[[H, Anchor], None]
    latest_anchor: Callable[[H, Region, WriterId], Anchor | None]
    anchor_writers: Callable[[H, Region], list[WriterId]]
    add_viewer_token: Callable[[H, ViewerToken], None]
    claim_viewer_token: Callable[[H, TokenDigest, Region, datetime], ViewerToken]
    add_console_session: Callable[[H, ConsoleSession], None]
    touch_console_session: Callable[
        [H, TokenDigest, ConsoleKind, datetime, datetime], ConsoleSession
    ]
    end_console_session: Callable[[H, TokenDigest, ConsoleKind, datetime], ConsoleSession]
    add_consent_request: Callable[[H, ConsentRequest], ConsentRequest]
    get_consent_request: Callable[[H, ConsentRequestId, datetime], ConsentRequest]
    list_consent_requests: Callable[[H, ConsentRequestQuery, datetime], Page[ConsentRequest]]
    decide_consent_request: Callable[[H, ConsentRequestId, ConsentRequestDecision], ConsentRequest]
    expire_consent_requests: Callable[[H, datetime], list[ConsentRequest]]
    put_unit: Callable[[H, UnitRecord], None]
    list_units: Callable[[H, Region], list[UnitRecord]]
    hold_session: Callable[[H, SessionId, Region, UnitId], None]
    held_sessions: Callable[[H, Region, UnitId], list[SessionId]]


class ThreadedStore(ABC, Generic[H]):
    """A ``Store`` whose operations are a backend's functions run off the event loop.

    ``validate_bundle`` runs before every import: the broker passes the
    policy's bundle check there (e.g. an ``eea_only`` org must sit in an EEA
    region), which no store knows. ``clock`` stamps sessions an import revokes.
    """

    def __init__(
        self,
        ops: StoreOps[H],
        *,
        clock: Clock | None = None,
        validate_bundle: BundleValidator | None = None,
    ) -> None:
        self._ops = ops
        self._clock: Clock = clock or SystemClock()
        self._validate_bundle = validate_bundle

    @abstractmethod
    async def _read(
        self, fn: Callable[Concatenate[H, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run the read ``fn(handle, ...)``; ``UnavailableError`` when the backend fails."""

    @abstractmethod
    async def _write(
        self, fn: Callable[Concatenate[H, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run the write ``fn(handle, ...)``; ``UnavailableError`` when the backend fails."""

    # -- reference data -------------------------------------------------
    async def import_bundle(self, bundle: ImportBundle) -> ImportCounts:
        """Upsert every record in one transaction; all or nothing."""
        if self._validate_bundle is not None:
            self._validate_bundle(bundle)
        at = to_micros(self._clock.now(), "at")
        return await self._write(self._ops.import_bundle, bundle, at)

    async def get_org(self, org_id: OrgId) -> Org:
        """The org, or ``NotFoundError``."""
        return await self._read(self._ops.get_org, org_id)

    async def get_staff(self, staff_id: StaffId) -> Staff:
        """The staff member, or ``NotFoundError``."""
        return await self._read(self._ops.get_staff, staff_id)

    async def list_staff(self) -> list[Staff]:
        """Every staff member, by id."""
        return await self._read(self._ops.list_staff)

    async def get_ticket(self, ticket_id: TicketId) -> Ticket:
        """The ticket, or ``NotFoundError``."""
        return await self._read(self._ops.get_ticket, ticket_id)

    async def get_target(self, org_id: OrgId, name: TargetName) -> Target:
        """The org's target of that name, or ``NotFoundError``."""
        return await self._read(self._ops.get_target, org_id, name)

    async def set_ticket_status(
        self, ticket_id: TicketId, status: TicketStatus, at: datetime
    ) -> Revoked[Ticket]:
        """Set the status; closing revokes the ticket's live sessions."""
        return await self._write(self._ops.set_ticket_status, ticket_id, status, at)

    async def set_staff_active(
        self, staff_id: StaffId, active: bool, at: datetime
    ) -> Revoked[Staff]:
        """Set ``active``; deactivating revokes the staff member's live sessions."""
        return await self._write(self._ops.set_staff_active, staff_id, active, at)

    # -- consents -------------------------------------------------------
    async def add_consent(self, consent: Consent) -> Consent:
        """Store a new consent; the ticket (of the consent's org) and staff must exist."""
        return await self._write(self._ops.add_consent, consent)

    async def get_consent(self, consent_id: ConsentId) -> Consent:
        """The consent, or ``NotFoundError``."""
        return await self._read(self._ops.get_consent, consent_id)

    async def list_consents(self, ticket_id: TicketId) -> list[Consent]:
        """Every consent of the ticket, newest first."""
        return await self._read(self._ops.list_consents, ticket_id)

    async def valid_consent(
        self, ticket_id: TicketId, staff_id: StaffId, at: datetime
    ) -> Consent | None:
        """The unrevoked consent for this pair valid at ``at`` expiring last."""
        return await self._read(self._ops.valid_consent, ticket_id, staff_id, at)

    async def revoke_consent(self, consent_id: ConsentId, at: datetime) -> Revoked[Consent]:
        """Revoke once (``ConflictError`` if already revoked) and its live sessions."""
        return await self._write(self._ops.revoke_consent, consent_id, at)

    def recent_grant_records(
        self, staff_id: StaffId, ticket_id: TicketId, target: TargetName, at: datetime
    ) -> GrantRecords | None:
        """None unless a store keeps recent grants: then every grant reads afresh."""
        return None

    # -- sessions -------------------------------------------------------
    async def get_session(self, session_id: SessionId) -> Session:
        """The session (an unused one past ``valid_before`` reads expired), or ``NotFoundError``."""
        return await self._read(self._ops.get_session, session_id, self._clock.now())

    async def list_sessions(self, query: SessionQuery) -> Page[Session]:
        """Sessions matching ``query``, newest first, paginated."""
        return await self._read(self._ops.list_sessions, query, self._clock.now())

    async def end_session(
        self, session_id: SessionId, state: SessionState, reason: str, at: datetime
    ) -> Session:
        """Move a live session to ``revoked``/``closed``/``expired`` once."""
        return await self._write(self._ops.end_session, session_id, state, reason, at)

    async def mark_connected(self, session_id: SessionId, at: datetime) -> Session:
        """``issued`` -> ``connected``; ``ConflictError`` if not issued and unexpired."""
        return await self._write(self._ops.mark_connected, session_id, at)

    async def ended_sessions(self, region: Region, since: int) -> tuple[int, list[Session]]:
        """Sessions of ``region`` that ended (revoked, closed, expired) after revision ``since``."""
        return await self._read(self._ops.ended_sessions, region, since)

    # -- audit anchors ----------------------------------------------------
    async def add_anchor(self, anchor: Anchor) -> None:
        """Append one audit anchor; ``ConflictError`` if its chain has its number already."""
        await self._write(self._ops.add_anchor, anchor)

    async def latest_anchor(self, region: Region, writer: WriterId = MAIN_WRITER) -> Anchor | None:
        """The anchor of the chain (``region``, ``writer``) with the highest number, or None."""
        return await self._read(self._ops.latest_anchor, region, writer)

    async def anchor_writers(self, region: Region) -> list[WriterId]:
        """The writers with anchors in ``region``, sorted."""
        return await self._read(self._ops.anchor_writers, region)

    # -- unit registry ----------------------------------------------------
    async def put_unit(self, unit: UnitRecord) -> None:
        """Register (or heartbeat) one regional unit."""
        await self._write(self._ops.put_unit, unit)

    async def list_units(self, region: Region) -> list[UnitRecord]:
        """Every unit of ``region`` ever registered, by id."""
        return await self._read(self._ops.list_units, region)

    async def hold_session(self, session_id: SessionId, region: Region, unit_id: UnitId) -> None:
        """Record the unit whose gateway accepted the session's login."""
        await self._write(self._ops.hold_session, session_id, region, unit_id)

    async def held_sessions(self, region: Region, unit_id: UnitId) -> list[SessionId]:
        """The sessions the unit accepted (live or ended), by id."""
        return await self._read(self._ops.held_sessions, region, unit_id)

    # -- viewer links ---------------------------------------------------
    async def add_viewer_token(self, token: ViewerToken) -> None:
        """Store a new, unclaimed viewer token (its digest only)."""
        await self._write(self._ops.add_viewer_token, token)

    async def claim_viewer_token(
        self, digest: TokenDigest, region: Region, at: datetime
    ) -> ViewerToken:
        """Claim the token once, at ``region``'s viewer, before it expires."""
        return await self._write(self._ops.claim_viewer_token, digest, region, at)

    # -- console sign-ins -----------------------------------------------
    async def add_console_session(self, record: ConsoleSession) -> None:
        """Store a new console record (its digest only)."""
        await self._write(self._ops.add_console_session, record)

    async def touch_console_session(
        self, digest: TokenDigest, kind: ConsoleKind, at: datetime, idle_since: datetime
    ) -> ConsoleSession:
        """Mark a live record of ``kind`` seen at ``at`` (seen after ``idle_since``)."""
        return await self._write(self._ops.touch_console_session, digest, kind, at, idle_since)

    async def end_console_session(
        self, digest: TokenDigest, kind: ConsoleKind, at: datetime
    ) -> ConsoleSession:
        """End a live record of ``kind`` once."""
        return await self._write(self._ops.end_console_session, digest, kind, at)

    # -- consent requests -------------------------------------------------
    async def add_consent_request(self, request: ConsentRequest) -> ConsentRequest:
        """Store a new pending request; its ticket (of its org) and staff must exist."""
        return await self._write(self._ops.add_consent_request, request)

    async def get_consent_request(self, request_id: ConsentRequestId) -> ConsentRequest:
        """The request as of the store's clock, or ``NotFoundError``."""
        return await self._read(self._ops.get_consent_request, request_id, self._clock.now())

    async def list_consent_requests(self, query: ConsentRequestQuery) -> Page[ConsentRequest]:
        """Requests matching ``query`` (states as read), newest first, paginated."""
        return await self._read(self._ops.list_consent_requests, query, self._clock.now())

    async def decide_consent_request(
        self, request_id: ConsentRequestId, decision: ConsentRequestDecision
    ) -> ConsentRequest:
        """End a pending, unexpired request once (an approval stores its consent too)."""
        return await self._write(self._ops.decide_consent_request, request_id, decision)

    async def expire_consent_requests(self, at: datetime) -> list[ConsentRequest]:
        """Move pending requests expired at ``at`` to ``expired``, each once."""
        return await self._write(self._ops.expire_consent_requests, at)
