"""Consent requests: an engineer asks the ticket's org for consent; its admins decide.

An engineer may ask only where a consent is what stands between them and the
ticket: the policy, asked now, denies with ``consent_required``. Anything
else is refused and nothing stored: 409 ``consent_not_needed`` when the
policy allows already, 409 ``consent_cannot_allow`` when it denies for a
reason no consent lifts (a country it does not permit, an unknown country, a
closed ticket). A customer admin of the ticket's org approves (optionally
for less time than asked, never more, never past ``MAX_REQUEST_SECONDS``)
or denies with a reason; the engineer may cancel while it is pending.

Approving makes the consent exactly as a grant does (``ConsentService.
new_consent``: the same checks, the EEA-only waiver included) and stores it
in the transaction that decides the request, so a request is approved once
and names the one consent it made. A request unanswered for
``PENDING_SECONDS`` reads ``expired`` and cannot be approved; ``expire_due``
moves such requests to ``expired`` in the store and audits each once.

The reason texts are free text: they are pseudonymised with the region's
key (phones, emails) before they are stored, and never reach the audit
trail, a log line or a notice. Every step is an audit event in the ticket's
region, carrying ids and durations only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from broker import validate as v
from broker.auth.principal import Principal
from broker.errors import (
    BrokerError,
    ConflictError,
    InputError,
    NotFoundError,
    UnavailableError,
)
from broker.ids import time_ordered_uuid
from broker.models import ConsentRequest, Org, Staff, Ticket
from broker.notify.base import ConsentRequestNotice
from broker.policy import AccessRequest, Decision, decide, needs_eea_only_waiver
from broker.service.authz import org_ticket, require_role
from broker.service.consents import ConsentService, consent_event
from broker.service.context import Context
from broker.store.base import ConsentRequestDecision, ConsentRequestQuery, Page
from broker.typing import (
    ConsentRequestId,
    ConsentRequestState,
    Region,
    StaffId,
    Subject,
    TicketId,
)

log = structlog.get_logger("broker.service.consent_requests")

PENDING_SECONDS = 24 * 3600
"""How long a request waits for an answer before it reads ``expired``."""
MIN_REQUEST_SECONDS = 60
"""The shortest consent one may ask for (or an admin approve)."""
MAX_REQUEST_SECONDS = 7 * 24 * 3600
"""The longest consent one may ask for (or an admin approve)."""
SWEEP_SECONDS = 60.0
"""How often the runtime records requests that expired unanswered."""
CONSOLE_REQUEST_PATH = "/console/requests/{id}"
"""The console page of one request, relative to the API's public URL."""


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """What a caller may narrow their listing by (the role decides the rest)."""

    state: ConsentRequestState | None = None
    ticket_id: TicketId | None = None
    limit: int = 50
    cursor: str | None = None


def check_duration(seconds: object, name: str = "duration_seconds") -> int:
    """A consent duration in seconds, ``MIN_REQUEST_SECONDS`` to ``MAX_REQUEST_SECONDS``."""
    return v.bounded(MIN_REQUEST_SECONDS, MAX_REQUEST_SECONDS)(seconds, name)


def request_link(request_id: ConsentRequestId) -> str:
    """The console link of a request (``CONSOLE_REQUEST_PATH``)."""
    return CONSOLE_REQUEST_PATH.format(id=request_id)


class ConsentRequestService:
    """Use cases on consent requests (engineers ask, customer admins decide, ops read)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.consents = ConsentService(ctx)

    async def request(
        self, principal: Principal, ticket_id: TicketId, duration_seconds: int, reason: str
    ) -> ConsentRequest:
        """Ask the ticket's org for consent for the calling engineer (201), then notify."""
        require_role(principal, "engineer")
        duration = check_duration(duration_seconds)
        text = v.text(reason, "reason")
        now = self.ctx.clock.now()
        org, ticket, staff = await self._eligible(StaffId(principal.subject), ticket_id, now)
        request = ConsentRequest(
            id=ConsentRequestId(time_ordered_uuid(now)),
            org_id=org.id,
            region=org.region,
            ticket_id=ticket.id,
            staff_id=staff.id,
            staff_country=staff.country,
            duration_seconds=duration,
            reason=self._redact(org.region, text),
            state="pending",
            created_at=now,
            expires_at=now + timedelta(seconds=PENDING_SECONDS),
        )
        event = _event(request, actor=principal.subject, staff_country=staff.country)
        event["expires_at"] = request.expires_at
        self.ctx.events.check("consent.requested", region=org.region, **event)
        stored = await self.ctx.store.add_consent_request(request)
        self.ctx.events.emit("consent.requested", region=org.region, **event)
        await self._notify(stored)
        return stored

    async def _eligible(
        self, staff_id: StaffId, ticket_id: TicketId, now: datetime
    ) -> tuple[Org, Ticket, Staff]:
        """The records of a request that only a consent stands in the way of, and no
        request of this engineer for this ticket pending (else 409, nothing stored)."""
        store = self.ctx.store
        staff = await store.get_staff(staff_id)
        ticket = await store.get_ticket(ticket_id)
        org = await store.get_org(ticket.org_id)
        consent = await store.valid_consent(ticket.id, staff.id, now)
        world = AccessRequest.of(org, ticket, staff, consent, now)
        _check_consent_would_help(decide(world, self.ctx.policy))
        await self._check_none_pending(ticket.id, staff.id)
        return org, ticket, staff

    async def get(self, principal: Principal, request_id: ConsentRequestId) -> ConsentRequest:
        """One request: the requester's own, their org's for an admin, any for ops (else 404)."""
        require_role(principal, "engineer", "customer_admin", "ops", "admin")
        request = await self.ctx.store.get_consent_request(request_id)
        if not _may_see(principal, request):
            raise _unknown(request_id)
        return request

    async def list(
        self, principal: Principal, wanted: RequestFilter | None = None
    ) -> Page[ConsentRequest]:
        """The caller's requests: an engineer's own, an admin's org's, all for ops; newest first."""
        require_role(principal, "engineer", "customer_admin", "ops", "admin")
        wanted = wanted or RequestFilter()
        org = principal.org if principal.role == "customer_admin" else None
        staff = StaffId(principal.subject) if principal.role == "engineer" else None
        query = ConsentRequestQuery(
            org, wanted.ticket_id, staff, wanted.state, wanted.limit, wanted.cursor
        )
        return await self.ctx.store.list_consent_requests(query)

    async def approve(
        self,
        principal: Principal,
        request_id: ConsentRequestId,
        duration_seconds: int | None = None,
        waives_eea_only: bool = False,
    ) -> ConsentRequest:
        """Approve a pending request of the admin's org: the consent is made as a grant
        makes it, for ``duration_seconds`` (default: as asked; never longer)."""
        require_role(principal, "customer_admin")
        request = await self._pending(principal, request_id)
        granted = _granted(request, duration_seconds)
        ticket = await org_ticket(self.ctx.store, principal, request.ticket_id)
        now = self.ctx.clock.now()
        consent, _ = await self.consents.new_consent(
            principal, ticket, request.staff_id, now + timedelta(seconds=granted), waives_eea_only
        )
        decision = ConsentRequestDecision(
            "approved", Subject(principal.subject), now, granted, consent=consent
        )
        actor = principal.subject
        events = (
            (
                "consent.granted",
                consent_event(consent, actor=actor, waives_eea_only=waives_eea_only),
            ),
            (
                "consent.request_approved",
                _event(request, actor=actor, consent_id=consent.id, granted_s=granted)
                | {"expires_at": consent.expires_at},
            ),
        )
        for event_type, fields in events:
            self.ctx.events.check(event_type, region=request.region, **fields)
        decided = await self._decide(request, decision)
        for event_type, fields in events:
            self.ctx.events.emit(event_type, region=request.region, **fields)
        return decided

    async def waiver_needed(self, principal: Principal, request_id: ConsentRequestId) -> bool:
        """Whether approving this request must waive EEA-only support (``waives_eea_only``):
        what an approval form asks for explicitly. Visible to whoever may see the request."""
        request = await self.get(principal, request_id)
        org = await self.ctx.store.get_org(request.org_id)
        ticket = await self.ctx.store.get_ticket(request.ticket_id)
        return needs_eea_only_waiver(
            org.region, org.tier, ticket.scope, request.staff_country, self.ctx.policy
        )

    async def deny(
        self, principal: Principal, request_id: ConsentRequestId, reason: str
    ) -> ConsentRequest:
        """Deny a pending request of the admin's org, with a reason the engineer reads."""
        require_role(principal, "customer_admin")
        text = v.text(reason, "reason")
        request = await self._pending(principal, request_id)
        decision = ConsentRequestDecision(
            "denied",
            Subject(principal.subject),
            self.ctx.clock.now(),
            deny_reason=self._redact(request.region, text),
        )
        return await self._end(request, decision, "consent.request_denied")

    async def cancel(self, principal: Principal, request_id: ConsentRequestId) -> ConsentRequest:
        """Withdraw the engineer's own pending request."""
        require_role(principal, "engineer")
        request = await self._pending(principal, request_id)
        decision = ConsentRequestDecision(
            "cancelled", Subject(principal.subject), self.ctx.clock.now()
        )
        return await self._end(request, decision, "consent.request_cancelled")

    async def expire_due(self) -> Sequence[ConsentRequest]:
        """Move every unanswered request past its expiry to ``expired``; audit each once."""
        for region in self.ctx.config.regions:
            self.ctx.events.check("consent.request_expired", region=region, **_STAND_IN)
        expired = await self.ctx.store.expire_consent_requests(self.ctx.clock.now())
        for request in expired:
            event = _event(request)
            event["expires_at"] = request.expires_at
            self.ctx.events.emit("consent.request_expired", region=request.region, **event)
        return expired

    async def expire_every(self, seconds: float = SWEEP_SECONDS) -> None:
        """``expire_due`` periodically until cancelled (the runtime's background task).

        Reads never wait for it (an unanswered request reads expired on its
        own); it only records each expiry once in the audit trail. A sweep that
        fails (store or trail down) is retried at the next tick."""
        while True:
            await self.ctx.clock.sleep(seconds)
            try:
                await self.expire_due()
            except BrokerError as error:
                log.warning("consent_request.sweep_failed", code=error.code)

    # -- helpers ----------------------------------------------------------
    async def _pending(self, principal: Principal, request_id: ConsentRequestId) -> ConsentRequest:
        """The caller's request, still pending (409 ``consent_request_decided`` or
        ``consent_request_expired`` otherwise; an expired one is swept on the way)."""
        request = await self.get(principal, request_id)
        if request.state == "expired":
            await self.expire_due()
        if request.state != "pending":
            raise _not_pending(request)
        return request

    async def _end(
        self, request: ConsentRequest, decision: ConsentRequestDecision, event_type: str
    ) -> ConsentRequest:
        """Deny or cancel: check the event, decide in the store, emit."""
        event = _event(request, actor=decision.by)
        self.ctx.events.check(event_type, region=request.region, **event)
        decided = await self._decide(request, decision)
        self.ctx.events.emit(event_type, region=request.region, **event)
        return decided

    async def _decide(
        self, request: ConsentRequest, decision: ConsentRequestDecision
    ) -> ConsentRequest:
        """The store's decision; one that lost to the clock sweeps the request on the way."""
        try:
            return await self.ctx.store.decide_consent_request(request.id, decision)
        except ConflictError as error:
            if error.code == "consent_request_expired":
                await self.expire_due()
            raise

    async def _check_none_pending(self, ticket_id: TicketId, staff_id: StaffId) -> None:
        """One open question per engineer and ticket: a second would only add noise."""
        query = ConsentRequestQuery(
            ticket_id=ticket_id, staff_id=staff_id, state="pending", limit=1
        )
        found = (await self.ctx.store.list_consent_requests(query)).items
        if found:
            raise ConflictError(
                "consent_request_pending",
                "a request of yours for this ticket is pending already",
                consent_request_id=found[0].id,
            )

    def _redact(self, region: Region, text: str) -> str:
        """``text`` with phones and emails pseudonymised by ``region``'s key (fail closed)."""
        if self.ctx.redactor is None:
            raise UnavailableError("redactor_missing", "free text cannot be pseudonymised")
        return self.ctx.redactor.text(region, text)

    async def _notify(self, request: ConsentRequest) -> None:
        """Tell the org's admins; the request stands whether or not that succeeds."""
        notice = ConsentRequestNotice(
            request.org_id, request.region, request.id, request.ticket_id, request_link(request.id)
        )
        try:
            await self.ctx.notifier.consent_requested(notice)
        except Exception as error:  # a notice is best effort: the request stands
            log.warning(
                "consent_request.notify_failed",
                region=request.region,
                consent_request_id=request.id,
                error=type(error).__name__,
            )


_STAND_IN = {"consent_request_id": "check", "org_id": "check", "ticket_id": "check"}


def _check_consent_would_help(decision: Decision) -> None:
    """Refuse a request no consent is needed for, or that no consent could satisfy."""
    if decision.allow:
        raise ConflictError(
            "consent_not_needed", "the policy allows you on this ticket already: no consent needed"
        )
    if "consent_required" not in decision.reasons:
        raise ConflictError(
            "consent_cannot_allow",
            "no consent would allow you on this ticket (reasons: "
            + ", ".join(decision.reasons)
            + ")",
        )


def _granted(request: ConsentRequest, duration_seconds: int | None) -> int:
    """The duration an approval grants: as asked, or shorter (never longer)."""
    if duration_seconds is None:
        return request.duration_seconds
    granted = check_duration(duration_seconds)
    if granted > request.duration_seconds:
        raise InputError("duration_seconds", "must not be longer than the engineer asked for")
    return granted


def _may_see(principal: Principal, request: ConsentRequest) -> bool:
    """The requester, the admins of the request's org, ops and admins."""
    if principal.role == "engineer":
        return request.staff_id == StaffId(principal.subject)
    if principal.role == "customer_admin":
        return request.org_id == principal.org
    return True


def _not_pending(request: ConsentRequest) -> ConflictError:
    if request.state == "expired":
        code, reason = "consent_request_expired", "the request expired unanswered"
    else:
        code, reason = "consent_request_decided", f"the request is {request.state} already"
    return ConflictError(code, reason, consent_request_id=request.id)


def _unknown(request_id: str) -> NotFoundError:
    return NotFoundError(
        "consent_request_not_found", "unknown consent request", consent_request_id=request_id
    )


def _event(request: ConsentRequest, **extra: object) -> dict[str, object]:
    """The audit fields of a consent request event: ids and durations, never the reason."""
    return {**request.ids(), "requested_s": request.duration_seconds, **extra}
