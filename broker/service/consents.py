"""Customer consents: granted and revoked by the ticket's own org admins.

Revoking a consent revokes, in the same store transaction, every live session
that the consent allowed; each is announced so the gateway audit matches.

EEA-only support admits staff from outside the EEA only through a consent
that says so: when ``needs_eea_only_waiver`` holds for the ticket and the
staff member, the grant must carry ``waives_eea_only: true`` or is refused
(400, ``field: waives_eea_only``), and nothing is stored. A waiver given
where none is needed is stored as given; it waives nothing.
"""

from __future__ import annotations

from datetime import datetime

from broker.auth.principal import Principal
from broker.errors import InputError, NotFoundError
from broker.ids import random_uuid
from broker.models import Consent, Org, Staff, Ticket
from broker.policy import needs_eea_only_waiver
from broker.service.authz import org_ticket
from broker.service.context import Context, announce_revoked, check_revocations
from broker.typing import ConsentId, StaffId, Subject, TicketId


class ConsentService:
    """Use cases on consents."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def grant(
        self,
        principal: Principal,
        ticket_id: TicketId,
        staff_id: StaffId,
        expires_at: datetime,
        waives_eea_only: bool = False,
    ) -> Consent:
        """Record a consent for one ticket and one named staff member."""
        ticket = await org_ticket(self.ctx.store, principal, ticket_id)
        consent, org = await self.new_consent(
            principal, ticket, staff_id, expires_at, waives_eea_only
        )
        event = consent_event(consent, actor=principal.subject, waives_eea_only=waives_eea_only)
        self.ctx.events.check("consent.granted", region=org.region, **event)
        stored = await self.ctx.store.add_consent(consent)
        self.ctx.events.emit("consent.granted", region=org.region, **event)
        return stored

    async def new_consent(
        self,
        principal: Principal,
        ticket: Ticket,
        staff_id: StaffId,
        expires_at: datetime,
        waives_eea_only: bool = False,
    ) -> tuple[Consent, Org]:
        """The consent a grant stores, checked by the grant's rules, and the ticket's org.

        Nothing is written: a grant adds it, an approved consent request adds
        it in the transaction that decides the request. ``ticket`` must come
        from ``org_ticket`` for ``principal``."""
        staff = await self.ctx.store.get_staff(staff_id)
        now = self.ctx.clock.now()
        if expires_at <= now:
            raise InputError("expires_at", "must be in the future")
        org = await self.ctx.store.get_org(ticket.org_id)
        if not waives_eea_only:
            self._check_no_waiver_needed(org, ticket, staff)
        consent = Consent(
            id=ConsentId(random_uuid()),
            org_id=ticket.org_id,
            ticket_id=ticket.id,
            staff_id=staff_id,
            granted_by=Subject(principal.subject),
            created_at=now,
            expires_at=expires_at,
            waives_eea_only=waives_eea_only,
        )
        return consent, org

    def _check_no_waiver_needed(self, org: Org, ticket: Ticket, staff: Staff) -> None:
        """Refuse a consent that would let staff from outside the EEA into EEA-only support."""
        if needs_eea_only_waiver(
            org.region, org.tier, ticket.scope, staff.country, self.ctx.policy
        ):
            raise InputError(
                "waives_eea_only",
                "must be true: this org has EEA-only support and the staff member works from"
                " outside the EEA, so the consent must waive EEA-only support explicitly",
                code="eea_only_waiver_required",
            )

    async def list(self, principal: Principal, ticket_id: TicketId) -> list[Consent]:
        """The ticket's consents, for its org admins, ops and admins."""
        ticket = await org_ticket(self.ctx.store, principal, ticket_id, "ops", "admin")
        return await self.ctx.store.list_consents(ticket.id)

    async def revoke(
        self, principal: Principal, ticket_id: TicketId, consent_id: ConsentId
    ) -> Consent:
        """Revoke the consent and every live session that relied on it."""
        ticket = await org_ticket(self.ctx.store, principal, ticket_id)
        consent = await self.ctx.store.get_consent(consent_id)
        if consent.ticket_id != ticket.id:
            raise NotFoundError("consent_not_found", "no such consent on this ticket")
        region = (await self.ctx.store.get_org(ticket.org_id)).region
        event = consent_event(consent, actor=principal.subject, sessions_ended=0)
        self.ctx.events.check("consent.revoked", region=region, **event)
        check_revocations(self.ctx, (region,), "consent_revoked", actor=principal.subject)
        revoked = await self.ctx.store.revoke_consent(consent.id, self.ctx.clock.now())
        event["sessions_ended"] = len(revoked.sessions)
        self.ctx.events.emit("consent.revoked", region=region, **event)
        announce_revoked(self.ctx, revoked.sessions, "consent_revoked", actor=principal.subject)
        return revoked.record


def consent_event(consent: Consent, **extra: object) -> dict[str, object]:
    """The audit fields of a consent event (``consent.granted``, ``consent.revoked``)."""
    return {
        "consent_id": consent.id,
        "ticket_id": consent.ticket_id,
        "org_id": consent.org_id,
        "staff_id": consent.staff_id,
        "expires_at": consent.expires_at,
        **extra,
    }
