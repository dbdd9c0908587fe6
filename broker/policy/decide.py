"""``decide()``: the access policy of docs/design.md, as one pure, total function.

No I/O and no clock: the time is ``AccessRequest.at``. Every input gets a
``Decision``; anything unknown or malformed denies. Decisions that do not
depend on a consent are built once and shared (they are frozen).

Reason codes (stable; clients may match on them). Fail-closed denials, all
that apply, in this order:

- ``region_unknown``: the org's region is not in the region table;
- ``tier_unknown``, ``scope_unknown``, ``severity_unknown`` (not 1-4),
  ``ticket_status_unknown``: a ticket or org field outside its enumeration;
- ``country_unknown``: the staff country is not a known ISO 3166 alpha-2 code;
- ``staff_inactive``, ``ticket_closed``;
- ``time_without_offset``: ``at`` is a naive datetime.

Rule outcomes (docs/design.md, "The access policy"):

- allow: ``not_eea``, ``intra_eea``, ``adequacy``, ``scc``, ``consent_valid``
  (one per basis); ``ttl_capped_by_consent`` when the consent's expiry cut the
  session lifetime below the configured maximum;
- deny: ``country_not_permitted``, ``consent_required`` (no consent),
  ``consent_revoked``, ``consent_expired`` (``at >= expires_at``),
  ``consent_expires_too_soon`` (under one second left: no session fits),
  ``consent_time_without_offset`` (naive expiry);
- deny ``consent_lacks_eea_only_waiver``: EEA-only support and a consent for
  staff outside the EEA that does not carry ``waives_eea_only``;
- context, before the outcome: ``scope_outside_eea_only`` (an ``eea_only`` org's
  ticket scope falls back to ``standard``), ``eea_only_requires_eea_staff`` (EEA-only
  support and the staff member is outside the EEA);
- after ``consent_valid``: ``eea_only_waived`` when the consent that allows
  waives EEA-only support (the decision's message then names the waiver).

``for_mode`` turns an allow into the denial ``terminal_not_allowed`` when a
terminal is asked for and only the viewer is allowed.

Every allow carries ``access``, the modes the session may use
(``broker.policy.access``): ``("view",)`` or ``("view", "terminal")``; a
denial carries ``()``.

An allowed decision always has ``1 <= max_ttl_seconds <= config.max_ttl_seconds``
and, with basis ``consent``, ``at + max_ttl_seconds <= consent.expires_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from broker.errors import InputError, PolicyDenied
from broker.models import Consent, Org, Staff, Ticket
from broker.policy.access import NONE, access_modes
from broker.policy.config import DEFAULT, PolicyConfig
from broker.policy.messages import message_for
from broker.policy.routing import Route, effective_tier
from broker.typing import SCOPES, TICKET_STATUSES, TIERS, AccessMode, Basis, ConsentId

_TIERS = frozenset(TIERS)
_SCOPES = frozenset(SCOPES)
_STATUSES = frozenset(TICKET_STATUSES)
_SEVERITIES = frozenset({1, 2, 3, 4})
_SECOND = timedelta(seconds=1)
_BASES: dict[Route, tuple[Basis, str]] = {
    "not-eea": ("not-eea", "not_eea"),
    "intra-eea": ("intra-eea", "intra_eea"),
    "adequacy": ("adequacy", "adequacy"),
    "scc": ("scc", "scc"),
}


@dataclass(frozen=True, slots=True)
class ConsentGrant:
    """The consent naming this staff member for this ticket, as the policy sees it."""

    expires_at: datetime
    id: ConsentId | None = None
    revoked: bool = False
    waives_eea_only: bool = False

    @classmethod
    def of(cls, consent: Consent) -> ConsentGrant:
        """The policy's view of a stored consent."""
        return cls(
            consent.expires_at, consent.id, consent.revoked_at is not None, consent.waives_eea_only
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRequest:
    """Everything ``decide`` reads. Strings are checked, not trusted: unknowns deny."""

    region: str
    tier: str
    staff_country: str
    at: datetime
    scope: str = "product"
    severity: int = 3
    ticket_status: str = "open"
    staff_active: bool = True
    consent: ConsentGrant | None = None
    terminal_access: bool = False

    @classmethod
    def of(
        cls, org: Org, ticket: Ticket, staff: Staff, consent: Consent | None, at: datetime
    ) -> AccessRequest:
        """A request from stored records; a consent naming anyone else is ignored."""
        if ticket.org_id != org.id:
            raise InputError("ticket_id", "belongs to a different org")
        applies = consent is not None and (consent.org_id, consent.ticket_id, consent.staff_id) == (
            org.id,
            ticket.id,
            staff.id,
        )
        grant = ConsentGrant.of(consent) if applies and consent is not None else None
        return cls(
            region=org.region,
            tier=org.tier,
            staff_country=staff.country,
            at=at,
            scope=ticket.scope,
            severity=ticket.severity,
            ticket_status=ticket.status,
            staff_active=staff.active,
            consent=grant,
            terminal_access=org.terminal_access,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer; ``max_ttl_seconds`` is 0 and ``access`` empty exactly when denied."""

    allow: bool
    basis: Basis | None
    reasons: tuple[str, ...]
    message: str
    max_ttl_seconds: int
    consent_id: ConsentId | None = None
    access: tuple[AccessMode, ...] = NONE

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields, for the CLI and the API."""
        return {
            "allow": self.allow,
            "basis": self.basis,
            "reasons": list(self.reasons),
            "message": self.message,
            "max_ttl_seconds": self.max_ttl_seconds,
            "consent_id": self.consent_id,
            "access": list(self.access),
        }

    def raise_if_denied(self) -> None:
        """Raise ``PolicyDenied`` carrying the reasons when this is a denial."""
        if not self.allow:
            raise PolicyDenied(self.reasons, self.message)


def decide(request: AccessRequest, config: PolicyConfig = DEFAULT) -> Decision:
    """The access decision for ``request`` under ``config`` (docs/design.md, rules 1-8)."""
    failures = _failures(request, config)
    if failures:
        return _deny(failures)
    eea_region = config.region_eea[request.region]
    access = access_modes(eea_region, request.tier, request.terminal_access)
    if not eea_region:
        return _allow("not-eea", (), config.max_ttl_seconds, access)
    eea_only = effective_tier(request.tier, request.scope) == "eea_only"
    context = ("scope_outside_eea_only",) if request.tier == "eea_only" and not eea_only else ()
    routes = config.eea_only_routes if eea_only else config.standard_routes
    route = routes[request.staff_country]
    if eea_only and route != "intra-eea":
        context = ("eea_only_requires_eea_staff",)
    if route == "denied":
        return _deny((*context, "country_not_permitted"))
    if route == "needs-consent":
        return _by_consent(request, config, context, access)
    return _allow(route, context, config.max_ttl_seconds, access)


def classify_staff(
    region: str, tier: str, scope: str, staff_country: str, config: PolicyConfig = DEFAULT
) -> Route:
    """For routing: how staff from ``staff_country`` may take this org's ticket.

    A basis means "allowed now"; ``needs-consent`` means only with the customer's
    consent naming them; ``denied`` covers unknown inputs as well as refusals.
    """
    eea = config.region_eea.get(region)
    known = staff_country in config.standard_routes
    if eea is None or not known or tier not in _TIERS or scope not in _SCOPES:
        return "denied"
    if not eea:
        return "not-eea"
    eea_only = effective_tier(tier, scope) == "eea_only"
    return (config.eea_only_routes if eea_only else config.standard_routes)[staff_country]


def for_mode(decision: Decision, mode: AccessMode) -> Decision:
    """``decision`` for a request asking for ``mode``: denied when the mode is not allowed.

    An allow that offers the viewer only answers a terminal request with the
    reason ``terminal_not_allowed``; denials stay as they are.
    """
    if not decision.allow or mode in decision.access:
        return decision
    return _deny((f"{mode}_not_allowed",))


def needs_eea_only_waiver(
    region: str, tier: str, scope: str, staff_country: str, config: PolicyConfig = DEFAULT
) -> bool:
    """Whether a consent for such staff on such a ticket counts only with ``waives_eea_only``.

    True exactly when the ticket is an EEA ticket under EEA-only support and the
    staff member could work it by consent only (staff outside the EEA).
    """
    if config.region_eea.get(region) is not True or tier not in _TIERS or scope not in _SCOPES:
        return False
    eea_only = effective_tier(tier, scope) == "eea_only"
    return eea_only and config.eea_only_routes.get(staff_country) == "needs-consent"


def grant_ttl(decision: Decision, requested: int | None, config: PolicyConfig = DEFAULT) -> int:
    """The session lifetime to issue: the request (or default), within the decision's cap."""
    if not decision.allow:
        raise PolicyDenied(decision.reasons, decision.message)
    if requested is None:
        return min(config.default_ttl_seconds, decision.max_ttl_seconds)
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise InputError("ttl_seconds", "must be a positive integer number of seconds")
    return min(requested, decision.max_ttl_seconds)


def _failures(r: AccessRequest, c: PolicyConfig) -> tuple[str, ...]:
    """Fail-closed reasons; the common all-known case costs one chained test."""
    if (
        r.region in c.region_eea
        and r.staff_country in c.standard_routes
        and r.tier in _TIERS
        and r.scope in _SCOPES
        and r.severity in _SEVERITIES
        and r.ticket_status == "open"
        and r.staff_active is True
        and r.at.utcoffset() is not None
    ):
        return ()
    return _collect_failures(r, c)


def _collect_failures(r: AccessRequest, c: PolicyConfig) -> tuple[str, ...]:
    """Every fail-closed reason that applies, in the documented order."""
    checks = (
        ("region_unknown", r.region not in c.region_eea),
        ("tier_unknown", r.tier not in _TIERS),
        ("scope_unknown", r.scope not in _SCOPES),
        ("severity_unknown", r.severity not in _SEVERITIES),
        ("ticket_status_unknown", r.ticket_status not in _STATUSES),
        ("country_unknown", r.staff_country not in c.standard_routes),
        ("staff_inactive", r.staff_active is not True),
        ("ticket_closed", r.ticket_status == "closed"),
        ("time_without_offset", r.at.utcoffset() is None),
    )
    return tuple(code for code, failed in checks if failed)


def _by_consent(
    r: AccessRequest, c: PolicyConfig, context: tuple[str, ...], access: tuple[AccessMode, ...]
) -> Decision:
    """Rules 5-8 for staff who need consent: valid consent allows, capped by its expiry.

    Under EEA-only support only a consent that waives it counts (``waives_eea_only``).
    """
    consent = r.consent
    waiver = "eea_only_requires_eea_staff" in context
    failure = _consent_failure(consent, r.at, waiver)
    if failure is not None or consent is None:
        return _deny((*context, failure or "consent_required"))
    remaining = (consent.expires_at - r.at) // _SECOND
    capped = remaining < c.max_ttl_seconds
    waived = ("eea_only_waived",) if waiver else ()
    reasons = (*context, "consent_valid", *waived, *(("ttl_capped_by_consent",) if capped else ()))
    ttl = remaining if capped else c.max_ttl_seconds
    message = message_for("eea_only_waived" if waiver else "consent_valid")
    return Decision(True, "consent", reasons, message, ttl, consent.id, access)


def _consent_failure(consent: ConsentGrant | None, at: datetime, waiver: bool) -> str | None:
    """Why this consent does not allow a session at ``at``, or None when it does."""
    if consent is None:
        return "consent_required"
    plain = (
        ("consent_lacks_eea_only_waiver", waiver and consent.waives_eea_only is not True),
        ("consent_revoked", consent.revoked),
        ("consent_time_without_offset", consent.expires_at.utcoffset() is None),
    )
    for code, failed in plain:
        if failed:
            return code
    if at >= consent.expires_at:  # both aware now: the comparison cannot raise
        return "consent_expired"
    return "consent_expires_too_soon" if (consent.expires_at - at) // _SECOND < 1 else None


@lru_cache(maxsize=256)
def _deny(reasons: tuple[str, ...]) -> Decision:
    """A shared denial; the message explains the decisive (last rule, first failure) code."""
    decisive = reasons[-1] if reasons[-1] in _RULE_DENIALS else reasons[0]
    return Decision(False, None, reasons, message_for(decisive), 0)


@lru_cache(maxsize=64)
def _allow(
    route: Route, context: tuple[str, ...], ttl: int, access: tuple[AccessMode, ...]
) -> Decision:
    """A shared allow for a basis that needs no consent."""
    basis, code = _BASES[route]
    return Decision(True, basis, (*context, code), message_for(code), ttl, None, access)


_RULE_DENIALS = frozenset(
    {
        "country_not_permitted",
        "consent_required",
        "consent_revoked",
        "consent_expired",
        "consent_expires_too_soon",
        "consent_time_without_offset",
        "consent_lacks_eea_only_waiver",
        "terminal_not_allowed",
        "view_not_allowed",
    }
)
