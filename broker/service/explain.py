"""Explain a recorded denial with the access policy's own ``explain``.

Ops pick a ``session.denied`` record of the audit trail; the facts it holds
(staff country, the org's region and tier, the ticket's scope, the time) are
put to ``broker.policy.explain`` again, as ``broker policy explain`` would,
and the answer is shown beside the reasons recorded at the time. A second
what-if adds a consent for the ticket (with the EEA-only waiver where the
tier needs one), which answers the usual next question: would a consent
have let this engineer in? Facts the trail does not hold are read from the
reasons recorded (a closed ticket, an inactive staff member), never from
today's store, so the explanation is about the request as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from broker.audit import AuditQuery
from broker.audit.reader import Cursor
from broker.auth.principal import Principal
from broker.errors import NotFoundError
from broker.policy.explain import explain
from broker.policy.messages import message_for
from broker.service.audit import AuditService
from broker.service.authz import require_role
from broker.typing import Region, WriterId
from broker.validate import timestamp

WHAT_IF_CONSENT = timedelta(hours=1)
"""How long the what-if consent runs from the denial's time."""


@dataclass(frozen=True, slots=True)
class DenialExplanation:
    """A denial as recorded, the policy's explanation now, and the consent what-if."""

    record: dict[str, Any]
    recorded: list[tuple[str, str]]
    """Each recorded reason code with its sentence."""
    facts: dict[str, Any]
    """The what-if record put to the policy (``broker policy explain``'s input)."""
    explained: dict[str, Any]
    with_consent: dict[str, Any]


def denial_facts(record: dict[str, Any], region: Region) -> dict[str, Any]:
    """The ``broker policy explain`` record for a ``session.denied`` audit record."""
    reasons = set(record.get("reasons") or ())
    facts: dict[str, Any] = {
        "org_region": region,
        "ticket_status": "closed" if "ticket_closed" in reasons else "open",
        "staff_active": "staff_inactive" not in reasons,
    }
    for key, field in (("staff_country", "staff_country"), ("tier", "tier"),
                       ("scope", "scope"), ("at", "time")):  # fmt: skip
        if record.get(field) is not None:
            facts[key] = str(record[field])
    return facts


def consent_facts(facts: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """``facts`` with a consent for the ticket (waiving EEA-only where the tier is)."""
    at = record.get("time")
    until = (timestamp(at, "time") + WHAT_IF_CONSENT).isoformat() if at else ""
    return {
        **facts,
        "consent_until": until,
        "consent_waives_eea_only": facts.get("tier") == "eea_only",
    }


class DenialExplainer:
    """``explain`` for a recorded denial, for ops."""

    def __init__(self, audit: AuditService) -> None:
        self.audit = audit

    async def explain(
        self, principal: Principal, region: Region, writer: WriterId, seq: int
    ) -> DenialExplanation:
        """The denial at ``seq`` of ``writer``'s chain in ``region``, explained; 404 if it
        is not one. Records are placed by (writer, seq): a seq alone repeats across chains."""
        require_role(principal, "ops", "admin")
        query = AuditQuery(event="session.denied", after=Cursor.of({writer: max(seq - 1, 0)}))
        page = await self.audit.query(principal, region, query)
        found = [r for r in page.records if r.get("writer") == writer and r.get("seq") == seq]
        if not found:
            raise NotFoundError("denial_not_found", "no denial at this position", seq=str(seq))
        record = found[0]
        facts = denial_facts(record, region)
        now, policy = self.audit.ctx.clock.now(), self.audit.ctx.policy
        return DenialExplanation(
            record,
            [(str(code), message_for(str(code))) for code in record.get("reasons") or ()],
            facts,
            explain(facts, now, policy),
            explain(consent_facts(facts, record), now, policy),
        )
