"""Reference data: imports, ticket status, staff activation, ticket routing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from broker.auth.principal import Principal
from broker.errors import ForbiddenError, InputError
from broker.models import Staff, Ticket
from broker.policy import classify_staff, support_window, ticket_access
from broker.service.authz import org_ticket, require_role
from broker.service.context import (
    Context,
    announce_revoked,
    announce_settings,
    check_revocations,
)
from broker.store.base import ImportBundle, ImportCounts
from broker.typing import AccessMode, Region, StaffId, TicketId, TicketStatus


@dataclass(frozen=True, slots=True)
class Routing:
    """Who may work a ticket, on which basis, who needs consent, and when."""

    ticket: Ticket
    region: Region
    allowed: dict[str, list[StaffId]]
    needs_consent: list[StaffId]
    support_open_now: bool
    support_next_open: datetime | None
    access: tuple[AccessMode, ...] = ()
    """The modes an allowed session on this ticket gets (view, terminal)."""


class AdminService:
    """Use cases on orgs, staff, tickets and targets."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def import_bundle(self, principal: Principal, bundle: ImportBundle) -> ImportCounts:
        """Upsert everything or nothing; EEA-only orgs must live in the EEA."""
        require_role(principal, "admin")
        self._check_regions(bundle)
        regions = sorted({org.region for org in bundle.orgs} or set(self.ctx.config.regions))
        self._check_import_events(principal, regions)
        counts = await self.ctx.store.import_bundle(bundle)
        announce_revoked(self.ctx, list(counts.revoked), "import", actor=principal.subject)
        announce_settings(self.ctx.events, counts.settings, source="api", actor=principal.subject)
        for region in regions:
            self.ctx.events.emit(
                "import.applied", region=region, actor=principal.subject, **_counts(counts)
            )
        return counts

    def _check_import_events(self, principal: Principal, regions: list[Region]) -> None:
        """Before the import writes: every event it may emit can be recorded."""
        actor = principal.subject
        for region in regions:
            self.ctx.events.check("import.applied", region=region, actor=actor)
            self.ctx.events.check(
                "org.setting_changed", region=region, key="check", source="api", actor=actor
            )
        check_revocations(self.ctx, self.ctx.config.regions, "import", actor=actor)

    def _check_regions(self, bundle: ImportBundle) -> None:
        """Every region is one the region table knows (else its audit trail would be a
        folder no policy covers); EEA-only orgs live in the EEA."""
        eea = self.ctx.policy.region_eea
        located = [("orgs", [o.region for o in bundle.orgs])]
        located += [("targets", [t.region for t in bundle.targets])]
        for kind, regions in located:
            for i, region in enumerate(regions):
                if region not in eea:
                    raise InputError(f"{kind}[{i}].region", "not a region the policy knows")
        for i, org in enumerate(bundle.orgs):
            if org.tier == "eea_only" and eea[org.region] is not True:
                raise InputError(f"orgs[{i}].region", "eea_only orgs must be in an EEA region")

    async def set_ticket_status(
        self, principal: Principal, ticket_id: TicketId, status: TicketStatus
    ) -> Ticket:
        """Open or close a ticket; closing revokes its live sessions.

        Ops and admins may do either. A customer admin may close their own
        org's tickets, which ends access, but never reopen one: reopening
        would let engineers in again, and ticket status is ops' decision."""
        ticket = await org_ticket(self.ctx.store, principal, ticket_id, "ops", "admin")
        if principal.role == "customer_admin" and status != "closed":
            raise ForbiddenError("reopen_forbidden", "customer admins may close tickets only")
        region = (await self.ctx.store.get_org(ticket.org_id)).region
        check_revocations(self.ctx, (region,), "ticket_closed", actor=principal.subject)
        changed = await self.ctx.store.set_ticket_status(ticket.id, status, self.ctx.clock.now())
        announce_revoked(self.ctx, changed.sessions, "ticket_closed", actor=principal.subject)
        return changed.record

    async def set_staff_active(
        self, principal: Principal, staff_id: StaffId, active: bool
    ) -> Staff:
        """Activate or deactivate staff; deactivating revokes their live sessions."""
        require_role(principal, "admin")
        reason = "staff_deactivated"
        check_revocations(self.ctx, self.ctx.config.regions, reason, actor=principal.subject)
        changed = await self.ctx.store.set_staff_active(staff_id, active, self.ctx.clock.now())
        announce_revoked(self.ctx, changed.sessions, reason, actor=principal.subject)
        return changed.record

    async def routing(self, principal: Principal, ticket_id: TicketId) -> Routing:
        """Classify every active staff member for this ticket."""
        ticket = await org_ticket(self.ctx.store, principal, ticket_id, "engineer", "ops", "admin")
        org = await self.ctx.store.get_org(ticket.org_id)
        allowed: dict[str, list[StaffId]] = {}
        needs_consent: list[StaffId] = []
        for staff in await self.ctx.store.list_staff():
            route = classify_staff(
                org.region, org.tier, ticket.scope, staff.country, self.ctx.policy
            )
            if not staff.active or route == "denied":
                continue
            if route == "needs-consent":
                needs_consent.append(staff.id)
            else:
                allowed.setdefault(route, []).append(staff.id)
        now = self.ctx.clock.now()
        window = support_window(
            org.tier, ticket.scope, ticket.severity, now, self.ctx.policy.holidays
        )
        access = ticket_access(org.region, org.tier, org.terminal_access, self.ctx.policy)
        return Routing(
            ticket, org.region, allowed, needs_consent, window.open_now, window.next_open, access
        )


def _counts(counts: ImportCounts) -> dict[str, int]:
    return {
        "orgs": counts.orgs,
        "staff": counts.staff,
        "tickets": counts.tickets,
        "targets": counts.targets,
    }
