"""The store interface every implementation (SQLite, DynamoDB) satisfies.

Rules every implementation keeps, checked by ``tests/store/contract.py``:

- State transitions are atomic conditional updates, never read-then-write.
  Revoking a session twice changes it once; a consent revoked while a session
  is being issued leaves either no session or a revoked one, never a live
  session on a dead consent.
- Side effects travel in the same transaction: revoking a consent, closing a
  ticket or deactivating staff revokes the live sessions that depended on it,
  and the call returns those sessions so callers can audit and cut them.
- ``import_bundle`` writes everything or nothing.
- Any failure to reach the backing system raises ``UnavailableError``;
  unknown ids raise ``NotFoundError``; lost races raise ``ConflictError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, Protocol, TypeVar

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
from broker.store.units import UnitRecord
from broker.typing import (
    ConsentId,
    ConsentRequestId,
    ConsentRequestState,
    ConsoleKind,
    OrgId,
    Region,
    SessionId,
    SessionState,
    StaffId,
    Subject,
    TargetName,
    TicketId,
    TicketStatus,
    TokenDigest,
    UnitId,
    WriterId,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """Filters for listing sessions; None means "any"."""

    ticket_id: TicketId | None = None
    staff_id: StaffId | None = None
    state: SessionState | None = None
    limit: int = 50
    cursor: str | None = None
    org_id: OrgId | None = None
    """The ticket's org (a customer admin's view: every session on their tickets)."""
    # The console's ops filters: the region, and when a session was created
    # (``since`` inclusive, ``until`` exclusive).
    region: Region | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConsentRequestQuery:
    """Filters for listing consent requests; None means "any" (state as read)."""

    org_id: OrgId | None = None
    ticket_id: TicketId | None = None
    staff_id: StaffId | None = None
    state: ConsentRequestState | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentRequestDecision:
    """How a pending consent request ends: ``approved`` (with the ``consent`` it makes,
    stored in the same transaction), ``denied`` (with a ``deny_reason``) or ``cancelled``."""

    state: Literal["approved", "denied", "cancelled"]
    by: Subject
    at: datetime
    granted_seconds: int | None = None
    deny_reason: str | None = None
    consent: Consent | None = None


@dataclass(frozen=True, slots=True)
class ImportBundle:
    """Records to upsert in one all-or-nothing write."""

    orgs: Sequence[Org] = ()
    staff: Sequence[Staff] = ()
    tickets: Sequence[Ticket] = ()
    targets: Sequence[Target] = ()


@dataclass(frozen=True, slots=True)
class SettingChange:
    """An org setting an import changed, read in the import's own transaction."""

    org_id: OrgId
    region: Region
    key: str
    old: bool
    new: bool


AUDITED_ORG_SETTINGS = ("terminal_access", "require_watch")
"""Org settings whose every change is audited on its own (``org.setting_changed``).

A new org counts as changing each from its default: an org that arrives
with terminals on is as much a change as one switched on later."""


def setting_changes(
    orgs: Sequence[Org], stored: dict[str, Org | None]
) -> tuple[SettingChange, ...]:
    """The audited settings of ``orgs`` that differ from what is stored (or the default)."""
    default = Org(OrgId(""), Region(""), "standard")
    changes = []
    for org in orgs:
        before = stored.get(org.id) or default
        for key in AUDITED_ORG_SETTINGS:
            old, new = bool(getattr(before, key)), bool(getattr(org, key))
            if old != new:
                changes.append(SettingChange(org.id, org.region, key, old, new))
    return tuple(changes)


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """How many records of each kind an import upserted."""

    orgs: int = 0
    staff: int = 0
    tickets: int = 0
    targets: int = 0
    revoked: tuple[Session, ...] = ()
    """Live sessions the import ended (tickets it closed, staff it deactivated)."""
    settings: tuple[SettingChange, ...] = ()
    """Audited org settings the import changed (``AUDITED_ORG_SETTINGS``)."""


@dataclass(frozen=True, slots=True)
class Revoked(Generic[T]):
    """The changed record plus the live sessions the change revoked."""

    record: T
    sessions: list[Session] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GrantRecords:
    """The records a grant decision is made over, read together."""

    staff: Staff
    ticket: Ticket
    org: Org
    target: Target
    consent: Consent | None
    revision: int | None = None
    """The store's revision of these records (None: the store keeps none).

    Handed back to ``create_session``, it makes the insert conditional on no
    org, staff, ticket, target or consent having changed since the read."""


class Store(Protocol):
    """Orgs, staff, tickets, targets, consents and sessions.

    One store may be used from the event loops of several threads at once:
    the gateway's watcher polls ``ended_sessions`` from a thread of its own,
    so a revocation is seen however busy the relay's loop is.
    """

    async def ping(self) -> None:
        """Raise ``UnavailableError`` unless the backing system answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    # -- reference data -------------------------------------------------
    async def import_bundle(self, bundle: ImportBundle) -> ImportCounts:
        """Upsert every record in one transaction; all or nothing."""
        ...

    async def get_org(self, org_id: OrgId) -> Org:
        """The org, or ``NotFoundError``."""
        ...

    async def get_staff(self, staff_id: StaffId) -> Staff:
        """The staff member, or ``NotFoundError``."""
        ...

    async def list_staff(self) -> list[Staff]:
        """Every staff member (routing needs the whole roster)."""
        ...

    async def get_ticket(self, ticket_id: TicketId) -> Ticket:
        """The ticket, or ``NotFoundError``."""
        ...

    async def get_target(self, org_id: OrgId, name: TargetName) -> Target:
        """The org's target of that name, or ``NotFoundError``."""
        ...

    async def set_ticket_status(
        self, ticket_id: TicketId, status: TicketStatus, at: datetime
    ) -> Revoked[Ticket]:
        """Set the status; closing revokes the ticket's live sessions."""
        ...

    async def set_staff_active(
        self, staff_id: StaffId, active: bool, at: datetime
    ) -> Revoked[Staff]:
        """Set ``active``; deactivating revokes the staff member's live sessions."""
        ...

    # -- consents -------------------------------------------------------
    async def add_consent(self, consent: Consent) -> Consent:
        """Store a new consent; the ticket and staff must exist."""
        ...

    async def get_consent(self, consent_id: ConsentId) -> Consent:
        """The consent, or ``NotFoundError``."""
        ...

    async def list_consents(self, ticket_id: TicketId) -> list[Consent]:
        """Every consent of the ticket, newest first."""
        ...

    async def valid_consent(
        self, ticket_id: TicketId, staff_id: StaffId, at: datetime
    ) -> Consent | None:
        """The unrevoked consent for this pair valid at ``at`` expiring last."""
        ...

    async def revoke_consent(self, consent_id: ConsentId, at: datetime) -> Revoked[Consent]:
        """Revoke once (``ConflictError`` if already revoked) and its live sessions."""
        ...

    async def grant_records(
        self, staff_id: StaffId, ticket_id: TicketId, target: TargetName, at: datetime
    ) -> GrantRecords:
        """Staff, ticket, the ticket's org, that org's ``target`` and the pair's
        ``valid_consent`` at ``at``, in one call (the grant's one read).

        ``NotFoundError`` names the first unknown of staff, ticket and target."""
        ...

    def recent_grant_records(
        self, staff_id: StaffId, ticket_id: TicketId, target: TargetName, at: datetime
    ) -> GrantRecords | None:
        """What ``grant_records`` last returned for these ids, as valid at ``at``,
        without asking the backing system: it may be out of date. None when the
        store keeps none, or keeps no ``revision`` with them (then nothing could
        tell an insert over them was stale)."""
        ...

    # -- sessions -------------------------------------------------------
    async def create_session(
        self, session: Session, *, world_revision: int | None = None
    ) -> Session:
        """Insert an ``issued`` session, atomically conditional on the world
        still being as the policy saw it: ticket open, staff active, and (when
        ``consent_id`` is set) the consent unrevoked and unexpired at
        ``created_at``. Otherwise ``ConflictError`` and nothing written.

        With ``world_revision`` (a ``GrantRecords.revision``), also refused
        with ``ConflictError`` code ``world_changed`` when any record a grant
        reads changed since; a store that keeps no revision ignores it."""
        ...

    async def get_session(self, session_id: SessionId) -> Session:
        """The session as of the store's clock (``Session.as_of``: an unused one past
        its ``valid_before`` reads ``expired``), or ``NotFoundError``."""
        ...

    async def list_sessions(self, query: SessionQuery) -> Page[Session]:
        """Sessions matching ``query`` (its state filter on the states as read), newest
        first, paginated."""
        ...

    async def end_session(
        self, session_id: SessionId, state: SessionState, reason: str, at: datetime
    ) -> Session:
        """Move a live session to ``revoked``/``closed``/``expired`` once.

        ``ConflictError`` if it already ended (the stored answer stands)."""
        ...

    async def mark_connected(self, session_id: SessionId, at: datetime) -> Session:
        """``issued`` -> ``connected``; ``ConflictError`` if not live."""
        ...

    async def ended_sessions(self, region: Region, since: int) -> tuple[int, list[Session]]:
        """Sessions of ``region`` that ended (revoked, closed, expired) after revision ``since``.

        Returns the newest revision and those sessions, in revision order;
        gateways poll this to learn of revocations with a bounded delay. New
        and connected sessions are not returned: a gateway has nothing to
        cut for them."""
        ...

    async def add_anchor(self, anchor: Anchor) -> None:
        """Append one audit anchor (``broker.audit.anchor``); rows are never changed.

        ``ConflictError`` if its chain (region, writer) already has an anchor with
        that number; each writer of a region numbers its own chain's anchors."""
        ...

    async def latest_anchor(self, region: Region, writer: WriterId = MAIN_WRITER) -> Anchor | None:
        """The anchor of the chain (``region``, ``writer``) with the highest number, or None."""
        ...

    async def anchor_writers(self, region: Region) -> list[WriterId]:
        """The writers with anchors in ``region``, sorted: every chain it must still have."""
        ...

    # -- consent requests -------------------------------------------------
    async def add_consent_request(self, request: ConsentRequest) -> ConsentRequest:
        """Store a new ``pending`` request; its ticket (of its org) and staff must exist."""
        ...

    async def get_consent_request(self, request_id: ConsentRequestId) -> ConsentRequest:
        """The request as of the store's clock (``ConsentRequest.as_of``), or ``NotFoundError``."""
        ...

    async def list_consent_requests(self, query: ConsentRequestQuery) -> Page[ConsentRequest]:
        """Requests matching ``query`` (its state filter on the states as read), newest
        first, paginated."""
        ...

    async def decide_consent_request(
        self, request_id: ConsentRequestId, decision: ConsentRequestDecision
    ) -> ConsentRequest:
        """End a pending, unexpired request once, atomically; an approval inserts its
        consent in the same transaction (the ``add_consent`` rules) or nothing at all.

        ``ConflictError`` code ``consent_request_decided`` when it was decided
        already, ``consent_request_expired`` when ``decision.at`` is past its expiry."""
        ...

    async def expire_consent_requests(self, at: datetime) -> list[ConsentRequest]:
        """Move every request still ``pending`` whose expiry is at or before ``at`` to
        ``expired``, each once; returns those moved (a concurrent sweep gets the rest)."""
        ...

    # -- unit registry (broker.store.units) --------------------------------
    async def put_unit(self, unit: UnitRecord) -> None:
        """Register or heartbeat a regional unit: its record replaces the one of that id."""
        ...

    async def list_units(self, region: Region) -> list[UnitRecord]:
        """Every unit of ``region`` ever registered (dead ones too), by unit id."""
        ...

    async def hold_session(self, session_id: SessionId, region: Region, unit_id: UnitId) -> None:
        """Record ``unit_id`` as the holder of ``session_id`` (a later login moves it)."""
        ...

    async def held_sessions(self, region: Region, unit_id: UnitId) -> list[SessionId]:
        """The sessions ``unit_id`` holds or held (any state), by id."""
        ...

    # -- viewer links ---------------------------------------------------
    async def add_viewer_token(self, token: ViewerToken) -> None:
        """Store a new, unclaimed viewer token (its digest); ``ConflictError`` if known."""
        ...

    async def claim_viewer_token(
        self, digest: TokenDigest, region: Region, at: datetime
    ) -> ViewerToken:
        """Claim the token at ``region``'s viewer, once, atomically, before it expires.

        ``NotFoundError`` for an unknown digest; ``RegionMismatch`` for a token
        of another region (left unclaimed); ``ConflictError`` code
        ``viewer_token_used`` or ``viewer_token_expired`` otherwise."""
        ...

    # -- console sign-ins -------------------------------------------------
    async def add_console_session(self, record: ConsoleSession) -> None:
        """Store a new console record (``ConsoleSession``: the digest of its secret only);
        ``ConflictError`` if the digest is known."""
        ...

    async def touch_console_session(
        self, digest: TokenDigest, kind: ConsoleKind, at: datetime, idle_since: datetime
    ) -> ConsoleSession:
        """Set ``last_seen_at = at`` on the record of ``kind``, atomically, if it has not
        ended, expires after ``at`` and was last seen after ``idle_since``.

        ``NotFoundError`` for an unknown digest; ``ConflictError`` code
        ``console_session_ended``, ``_expired``, ``_idle`` or ``_kind`` otherwise."""
        ...

    async def end_console_session(
        self, digest: TokenDigest, kind: ConsoleKind, at: datetime
    ) -> ConsoleSession:
        """Set ``ended_at = at`` once, atomically, on a live record of ``kind`` (a link or
        login used, a session signed out); the errors of ``touch_console_session``."""
        ...
