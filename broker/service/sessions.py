"""Granting, reading and revoking sessions.

A grant is: look up the world, ask the pure policy, write the session with a
conditional insert (so a consent revoked meanwhile wins), sign a certificate
with the org's region CA, and tell the event sink at every step. The look-up
may be the store's recent records, with no read at all: the insert is refused
if they changed since, and a denial over them is made again over fresh ones.
The ``session.issued`` event is checked with the sink before the row is
written (so an event the trail could not record fails the grant with
nothing written), and any failure after the row exists, its audit record
included, revokes it: no certificate outlives a failed grant and no
terminal session without a certificate stays live.

A request with a public key asks for a ``terminal`` session; one without
asks for a ``view`` session (the in-region viewer), which gets no
certificate at all. The mode asked for must be among the decision's
``access`` modes, else the grant is denied with ``terminal_not_allowed``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NoReturn

from broker.auth.principal import Principal
from broker.ca import new_serial, parse_user_key, source_address_list
from broker.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PolicyDenied,
    RegionMismatch,
)
from broker.ids import time_ordered_uuid
from broker.metrics import Metrics
from broker.models import Session
from broker.policy import AccessRequest, Decision, decide, effective_tier, for_mode, grant_ttl
from broker.service.authz import require_role
from broker.service.context import (
    Context,
    GatewayAddress,
    announce_revoked,
    check_revocations,
)
from broker.service.viewer_links import ViewerLink, ViewerLinks
from broker.sshcert import PublicKeyBlob
from broker.store.base import GrantRecords, Page, SessionQuery
from broker.typing import AccessMode, Basis, SessionId, StaffId, TargetName, TicketId

WORLD_ATTEMPTS = 3
"""Decisions a grant makes when records change between its read and its insert."""


@dataclass(frozen=True, slots=True)
class GrantRequest:
    """What an engineer asks for; validated by the API layer."""

    ticket_id: TicketId
    target: TargetName
    public_key: str | None = None
    ttl_seconds: int | None = None
    source_address: str | None = None

    @property
    def access(self) -> AccessMode:
        """The mode asked for: a public key asks for a terminal, none for the viewer."""
        return "view" if self.public_key is None else "terminal"


@dataclass(frozen=True, slots=True)
class Grant:
    """An issued session with everything the engineer needs to connect.

    A ``view`` session has no certificate (None).
    """

    session: Session
    certificate: str | None
    gateway: GatewayAddress | None
    viewer: ViewerLink | None = None
    """A view session's single-use link to its region's viewer."""


def issued_session(
    world: GrantRecords,
    basis: Basis,
    now: datetime,
    ttl: int,
    source: str | None = None,
    access: AccessMode = "terminal",
) -> Session:
    """A new ``issued`` session over the grant's records: fresh id and certificate serial.

    The id is time-ordered (``broker.ids``), so the store appends the row at
    the end of its key instead of on a random page. The consent is named only
    when it is the basis: a session on another basis must not end when some
    consent for the pair is revoked. A ``view`` session gets no serial: no
    certificate is ever signed for it.
    """
    consent = world.consent.id if basis == "consent" and world.consent else None
    return Session(
        id=SessionId(time_ordered_uuid(now)),
        org_id=world.org.id,
        ticket_id=world.ticket.id,
        staff_id=world.staff.id,
        target=world.target.name,
        region=world.org.region,
        basis=basis,
        state="issued",
        created_at=now,
        valid_before=now + timedelta(seconds=ttl),
        consent_id=consent,
        source_address=source,
        cert_serial=new_serial() if access == "terminal" else None,
        access=access,
    )


def _request(world: GrantRecords) -> dict[str, object]:
    """The facts of a grant request every one of its events carries (ids and codes only)."""
    return {
        "org_id": world.org.id,
        "ticket_id": world.ticket.id,
        "staff_id": world.staff.id,
        "staff_country": world.staff.country,
        "target": world.target.name,
        "scope": world.ticket.scope,
        "tier": world.org.tier,
        "actor": world.staff.id,
    }


def _issued(
    world: GrantRecords, session: Session, source_ip: str, serial: int | None = None
) -> dict[str, object]:
    """The fields of ``session.issued`` beyond the request's (``serial``: the certificate's,
    once signed; before, the one the session was given)."""
    return {
        "source_ip": source_ip,
        "session_id": session.id,
        "basis": session.basis,
        "effective_tier": effective_tier(world.org.tier, world.ticket.scope),
        "consent_id": session.consent_id,
        "access": session.access,
        "cert_serial": serial if serial is not None else session.cert_serial,
        "expires_at": session.valid_before,
    }


def _one_region(world: GrantRecords) -> bool:
    """Whether the target sits in its org's region (a session spans exactly one)."""
    return world.target.region == world.org.region


class SessionService:
    """Use cases on sessions."""

    def __init__(self, ctx: Context, metrics: Metrics | None = None) -> None:
        self.ctx = ctx
        self.metrics = metrics or Metrics()

    async def grant(self, principal: Principal, req: GrantRequest, source_ip: str) -> Grant:
        """Decide, record and sign; raise ``PolicyDenied`` with reasons on deny."""
        require_role(principal, "engineer")
        # bad input fails before anything is written
        user_key = None if req.public_key is None else parse_user_key(req.public_key)
        source_address_list(req.source_address)
        staff_id = StaffId(principal.subject)
        recent = self._recent_world(staff_id, req)
        world = recent or await self._world(staff_id, req)
        self._emit("session.requested", world, source_ip=source_ip)
        for _ in range(WORLD_ATTEMPTS):
            world, decision, ttl = await self._decision(world, world is not recent, staff_id, req)
            if ttl <= 0:
                self._deny(world, decision, source_ip)
            self.ctx.require_unit(world.org.region)
            try:
                session = await self._record(world, decision, ttl, req, source_ip)
            except ConflictError as error:
                if error.code != "world_changed":
                    raise
                world = await self._world(staff_id, req)  # decide again on what is there now
                continue
            return await self._sign(session, world, user_key, source_ip)
        raise ConflictError("world_changed", "the records kept changing; ask again")

    def _recent_world(self, staff_id: StaffId, req: GrantRequest) -> GrantRecords | None:
        """The store's recent records for this grant, read no statement: they may be stale.

        Deciding over them is safe because of what follows: the insert carries
        their revision and is refused if anything changed since, and a denial
        over them is decided again over fresh records (``_decision``).
        """
        world = self.ctx.store.recent_grant_records(
            staff_id, req.ticket_id, req.target, self.ctx.clock.now()
        )
        if world is None or world.revision is None or not _one_region(world):
            return None  # no revision to guard the insert, or a mismatch to report afresh
        return world

    async def _world(self, staff_id: StaffId, req: GrantRequest) -> GrantRecords:
        world = await self.ctx.store.grant_records(
            staff_id, req.ticket_id, req.target, self.ctx.clock.now()
        )
        if not _one_region(world):
            raise RegionMismatch(
                "target_region", "target is not in the org's region", target=world.target.name
            )
        return world

    async def _decision(
        self, world: GrantRecords, fresh: bool, staff_id: StaffId, req: GrantRequest
    ) -> tuple[GrantRecords, Decision, int]:
        """The decision over ``world``; a denial over recent records is made again over fresh ones.

        Returns the records decided over, the decision and the TTL it allows.
        """
        decision, ttl = self._decide(world, req)
        if ttl <= 0 and not fresh:
            world = await self._world(staff_id, req)
            decision, ttl = self._decide(world, req)
        return world, decision, ttl

    def _decide(self, world: GrantRecords, req: GrantRequest) -> tuple[Decision, int]:
        """The policy's decision, and the TTL it allows (0 when it denies)."""
        now = self.ctx.clock.now()
        request = AccessRequest.of(world.org, world.ticket, world.staff, world.consent, now)
        decision = for_mode(decide(request, self.ctx.policy), req.access)
        ttl = grant_ttl(decision, req.ttl_seconds, self.ctx.policy) if decision.allow else 0
        return decision, ttl

    def _deny(self, world: GrantRecords, decision: Decision, source_ip: str) -> NoReturn:
        self._emit("session.denied", world, source_ip=source_ip, reasons=list(decision.reasons))
        self.metrics.denied(list(decision.reasons) or ["ttl_exhausted"])
        raise PolicyDenied(decision.reasons, decision.message, ticket_id=world.ticket.id)

    async def _record(
        self, world: GrantRecords, decision: Decision, ttl: int, req: GrantRequest, source_ip: str
    ) -> Session:
        assert decision.basis is not None  # an allow always carries its basis
        now = self.ctx.clock.now()
        session = issued_session(
            world, decision.basis, now, ttl, req.source_address, access=req.access
        )
        self._check("session.issued", world, **_issued(world, session, source_ip))
        return await self.ctx.store.create_session(session, world_revision=world.revision)

    async def _sign(
        self, session: Session, world: GrantRecords, user_key: PublicKeyBlob | None, source_ip: str
    ) -> Grant:
        """Sign the terminal session's certificate (a view session has none), then announce.

        A view session gets its first viewer link here too. A failure of any
        revokes the session first: no certificate without its audit record, and
        no live session without both (or without its link)."""
        try:
            issued = None if user_key is None else await self.ctx.cas.sign(session, user_key)
            serial = issued.serial if issued is not None else None
            self._emit("session.issued", world, **_issued(world, session, source_ip, serial))
            link = None if user_key is not None else await self._link(session, source_ip)
        except Exception:
            await self.ctx.store.end_session(
                session.id, "revoked", "issue_failed", self.ctx.clock.now()
            )
            raise
        self.metrics.granted(session.region)
        certificate = issued.certificate if issued is not None else None
        return Grant(session, certificate, self.ctx.gateway_for(session.region), link)

    async def _link(self, session: Session, source_ip: str) -> ViewerLink:
        """The view session's first single-use viewer link."""
        links = ViewerLinks(self.ctx)
        return await links.issue(session, "grant", actor=session.staff_id, source_ip=source_ip)

    def _emit(self, event: str, world: GrantRecords, **fields: object) -> None:
        """An event about this request, with the facts the TIA groups by (ids only)."""
        self.ctx.events.emit(event, region=world.org.region, **_request(world), **fields)

    def _check(self, event: str, world: GrantRecords, **fields: object) -> None:
        """Raise as ``_emit`` would, recording nothing: checked before the write it reports."""
        self.ctx.events.check(event, region=world.org.region, **_request(world), **fields)

    async def get(self, principal: Principal, session_id: SessionId) -> Session:
        """One session: engineers see their own, ops and admins any.

        Roles are checked before the lookup, and another engineer's session
        answers as an unknown one does, so no caller learns which ids exist."""
        require_role(principal, "engineer", "ops", "admin")
        session = await self.ctx.store.get_session(session_id)
        if principal.role == "engineer" and StaffId(principal.subject) != session.staff_id:
            raise NotFoundError("session_not_found", "unknown session", session_id=session_id)
        return session

    async def list(self, principal: Principal, query: SessionQuery) -> Page[Session]:
        """Sessions by filter; engineers are limited to their own, customer admins
        (the console's sessions page) to those on their org's tickets."""
        require_role(principal, "engineer", "ops", "admin", "customer_admin")
        if principal.role == "customer_admin":
            return await self.ctx.store.list_sessions(replace(query, org_id=principal.org))
        if principal.role == "engineer":
            if query.staff_id not in (None, StaffId(principal.subject)):
                raise ForbiddenError(
                    "staff_forbidden", "engineers may list only their own sessions"
                )
            query = replace(query, staff_id=StaffId(principal.subject))
        return await self.ctx.store.list_sessions(query)

    async def revoke(self, principal: Principal, session_id: SessionId, source_ip: str) -> Session:
        """End a live session now; the gateway cuts it within a second."""
        session = await self.get(principal, session_id)
        if session.state not in ("issued", "connected"):  # e.g. expired unused: reads say so
            raise ConflictError(
                "session_not_live", f"the session is {session.state}", session_id=session.id
            )
        caller = {"actor": principal.subject, "source_ip": source_ip}
        check_revocations(self.ctx, (session.region,), "revoked_by_api", **caller)
        ended = await self.ctx.store.end_session(
            session.id, "revoked", "revoked_by_api", self.ctx.clock.now()
        )
        announce_revoked(self.ctx, [ended], "revoked_by_api", **caller)
        return ended
