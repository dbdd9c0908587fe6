"""Ops queries over the audit trail, and the Transfer Impact Assessment.

Both read only the region the records belong to, every writer's chain of it
merged in time order. The TIA verifies each of that region's chains first
(against its anchor, when the broker anchors) and refuses to report on a
region with a broken chain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from broker.audit import Auditor, AuditQuery, Page, RegionVerdict, VerifyResult
from broker.audit.reader import Cursor
from broker.audit.tia import TiaScope, build_tia
from broker.auth.principal import Principal
from broker.errors import ConflictError, InputError
from broker.service.authz import require_org_admin, require_role
from broker.service.context import Context
from broker.typing import OrgId, Region

MAX_TIA_RECORDS = 1_000_000


class AuditService:
    """Use cases on the audit trail."""

    def __init__(
        self,
        ctx: Context,
        auditor: Auditor,
        flush_events: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.auditor = auditor
        # Another process may hold this instance's chains (``api_processes`` > 1).
        self._flush_events = flush_events or _nothing_to_flush

    async def query(self, principal: Principal, region: Region | None, query: AuditQuery) -> Page:
        """Matching records of one region, for ops."""
        require_role(principal, "ops", "admin")
        region = await self._region(region, query)
        await self._flush_events()
        return self.auditor.query(region, query)

    async def verify(self, principal: Principal, region: Region) -> RegionVerdict:
        """Every chain of ``region`` verified against its anchor, for ops."""
        require_role(principal, "ops", "admin")
        if region not in self.ctx.config.regions:
            raise InputError("region", "not a region this broker serves")
        await self._flush_events()
        return await self.auditor.averify(region)

    async def all_records(
        self, principal: Principal, region: Region, query: AuditQuery
    ) -> list[dict[str, Any]]:
        """Every matching record of one region (up to ``MAX_TIA_RECORDS``), for ops' summaries."""
        require_role(principal, "ops", "admin")
        await self._flush_events()
        return self._records(await self._region(region, query), query)

    async def verify_all(self, principal: Principal) -> list[VerifyResult]:
        """Every chain (one per writer) of every region this broker serves, each verified
        against its anchor; by region in config order."""
        require_role(principal, "ops", "admin")
        await self._flush_events()
        verdicts = [await self.auditor.averify(region) for region in self.ctx.config.regions]
        return [chain for verdict in verdicts for chain in verdict.chains]

    async def _region(self, region: Region | None, query: AuditQuery) -> Region:
        """The region asked for, or the one the named session or ticket lives in."""
        if region is not None:
            if region not in self.ctx.config.regions:
                raise InputError("region", "not a region this broker serves")
            return region
        if query.session_id:
            return (await self.ctx.store.get_session(query.session_id)).region  # type: ignore[arg-type]
        if query.ticket_id:
            ticket = await self.ctx.store.get_ticket(query.ticket_id)  # type: ignore[arg-type]
            return (await self.ctx.store.get_org(ticket.org_id)).region
        raise InputError("region", "is required unless session_id or ticket_id is given")

    async def tia(
        self, principal: Principal, org_id: OrgId, start: datetime, end: datetime
    ) -> dict[str, Any]:
        """The TIA of one org for ``[start, end)``, from its region's verified chain."""
        require_org_admin(principal, org_id, "ops", "admin")
        if end <= start:
            raise InputError("to", "must be after from")
        org = await self.ctx.store.get_org(org_id)
        await self._flush_events()
        verdict = await self.auditor.averify(org.region)
        if not verdict.ok:
            writers = ", ".join(chain.writer for chain in verdict.broken)
            raise ConflictError(
                "audit_chain_broken",
                f"the region's audit chain of writer {writers} does not verify",
                region=org.region,
            )
        records = self._records(org.region, AuditQuery(org_id=org.id, since=start, until=end))
        return build_tia(
            TiaScope(org.id, org.region, org.tier, start, end, self._storage(org.region)), records
        )

    def _records(self, region: Region, query: AuditQuery) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = self.auditor.query(region, query)
        found += page.records
        while page.next_after is not None and len(found) < MAX_TIA_RECORDS:
            page = self.auditor.query(region, _after(query, page.next_after))
            found += page.records
        return found

    def _storage(self, region: Region) -> dict[str, str]:
        layout = self.ctx.config.layout
        return {
            "audit trail": str(layout.audit(region)),
            "recordings": str(layout.recordings(region)),
        }


def _after(query: AuditQuery, cursor: Cursor) -> AuditQuery:
    return dataclasses.replace(query, after=cursor)


async def _nothing_to_flush() -> None:
    """The auditor flushes its own writers before it reads."""
