"""Input checks every ``Store`` implementation makes, the same way, before its backend.

SQLite and DynamoDB must refuse the same malformed calls with the same
``InputError`` naming the same field (the contract tests hold both to it),
so the rules live here once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any, get_args

from broker.errors import BrokerError, ConflictError, InputError, NotFoundError, RegionMismatch
from broker.models import Consent, ConsentRequest, Session, ViewerToken
from broker.store.base import (
    ConsentRequestDecision,
    ConsentRequestQuery,
    ImportBundle,
    SessionQuery,
)
from broker.store.encoding import to_micros
from broker.typing import (
    ACCESS_MODES,
    CONSENT_REQUEST_STATES,
    SCOPES,
    SESSION_STATES,
    TICKET_STATUSES,
    TIERS,
    Basis,
    Region,
    SessionState,
)

MAX_PAGE = 500
"""The most sessions one page of ``list_sessions`` returns."""
MAX_REASON = 200
"""The longest reason an ended session may carry."""
ENDED_STATES: tuple[SessionState, ...] = ("revoked", "closed", "expired")
"""The states ``end_session`` may move a live session to."""
SERIAL_LIMIT = 1 << 64
"""Certificate serials are unsigned 64-bit integers."""
_BASES = get_args(Basis)


def check_new_session(session: Session) -> None:
    """Refuse a malformed new session, naming the field."""
    if session.state != "issued":
        raise InputError("state", "a new session must be issued")
    if session.basis not in _BASES:
        raise InputError("basis", "is not a known legal basis")
    if session.access not in ACCESS_MODES:
        raise InputError("access", "must be view or terminal")
    if session.basis == "consent" and session.consent_id is None:
        raise InputError("consent_id", "is required when the basis is consent")
    created = to_micros(session.created_at, "created_at")
    if to_micros(session.valid_before, "valid_before") <= created:
        raise InputError("valid_before", "must be after created_at")
    if session.cert_serial is not None:
        check_serial(session.cert_serial)


def check_new_consent(consent: Consent) -> None:
    """Refuse a consent that expires before it was granted."""
    if to_micros(consent.expires_at, "expires_at") <= to_micros(consent.created_at, "created_at"):
        raise InputError("expires_at", "must be after created_at")


MAX_TEXT = 2000
"""The longest stored free text (a pseudonym is longer than what it replaces)."""


def check_new_consent_request(request: ConsentRequest) -> None:
    """Refuse a malformed new consent request, naming the field."""
    if request.state != "pending":
        raise InputError("state", "a new consent request must be pending")
    if request.duration_seconds < 1:
        raise InputError("duration_seconds", "must be positive")
    if not request.reason or len(request.reason) > MAX_TEXT:
        raise InputError("reason", f"must be 1 to {MAX_TEXT} characters")
    created = to_micros(request.created_at, "created_at")
    if to_micros(request.expires_at, "expires_at") <= created:
        raise InputError("expires_at", "must be after created_at")
    decided = (request.decided_by, request.decided_at, request.granted_seconds)
    if any(x is not None for x in decided) or request.deny_reason or request.consent_id:
        raise InputError("decided_at", "a new consent request is undecided")


def check_decision(request: ConsentRequest, decision: ConsentRequestDecision) -> None:
    """Refuse a decision that does not fit its kind or its request, naming the field."""
    to_micros(decision.at, "at")
    approved = decision.state == "approved"
    if decision.state not in ("approved", "denied", "cancelled"):
        raise InputError("state", "must be approved, denied or cancelled")
    if approved != (decision.consent is not None) or approved != (
        decision.granted_seconds is not None
    ):
        raise InputError("consent", "an approval, and only an approval, makes a consent")
    if decision.granted_seconds is not None and not (
        1 <= decision.granted_seconds <= request.duration_seconds
    ):
        raise InputError("granted_seconds", "must be positive and at most the asked duration")
    consent = decision.consent
    if consent is not None and (consent.ticket_id, consent.staff_id, consent.org_id) != (
        request.ticket_id,
        request.staff_id,
        request.org_id,
    ):
        raise InputError("consent", "must name the request's ticket, staff and org")
    if (decision.state == "denied") != bool(decision.deny_reason):
        raise InputError("deny_reason", "a denial, and only a denial, carries a reason")
    if decision.deny_reason is not None and len(decision.deny_reason) > MAX_TEXT:
        raise InputError("deny_reason", f"must be at most {MAX_TEXT} characters")


def undecidable(request: ConsentRequest, at: datetime) -> ConflictError:
    """Why a decision on ``request`` (as stored) at ``at`` matched nothing."""
    if request.state != "pending":
        return ConflictError(
            "consent_request_decided",
            f"the request is {request.state} already",
            consent_request_id=request.id,
        )
    if at >= request.expires_at:
        return ConflictError(
            "consent_request_expired",
            "the request expired unanswered",
            consent_request_id=request.id,
        )
    return ConflictError(
        "consent_request_race", "the request changed meanwhile", consent_request_id=request.id
    )


def check_request_query(query: ConsentRequestQuery) -> None:
    """Refuse a page size out of range or an unknown state filter."""
    if not 1 <= query.limit <= MAX_PAGE:
        raise InputError("limit", f"must be between 1 and {MAX_PAGE}")
    if query.state is not None and query.state not in CONSENT_REQUEST_STATES:
        raise InputError("state", "is not a consent request state")


def check_serial(serial: int) -> None:
    """Refuse serials outside unsigned 64 bits."""
    if not 0 <= serial < SERIAL_LIMIT:
        raise InputError("serial", "must be an unsigned 64-bit integer")


def check_ending(state: SessionState, reason: str) -> None:
    """Refuse an ``end_session`` to a live state or with no (or an overlong) reason."""
    if state not in ENDED_STATES:
        raise InputError("state", "must be revoked, closed or expired")
    if not reason or len(reason) > MAX_REASON:
        raise InputError("reason", f"must be 1 to {MAX_REASON} characters")


def check_query(query: SessionQuery) -> None:
    """Refuse a page size out of range or an unknown state filter."""
    if not 1 <= query.limit <= MAX_PAGE:
        raise InputError("limit", f"must be between 1 and {MAX_PAGE}")
    if query.state is not None and query.state not in SESSION_STATES:
        raise InputError("state", "is not a session state")


def check_new_viewer_token(token: ViewerToken) -> None:
    """Refuse a malformed viewer token, naming the field."""
    if len(token.digest) != 64 or not all(c in "0123456789abcdef" for c in token.digest):
        raise InputError("digest", "must be a SHA-256 hex digest")
    if token.claimed_at is not None:
        raise InputError("claimed_at", "a new token is unclaimed")
    if to_micros(token.expires_at, "expires_at") <= to_micros(token.issued_at, "issued_at"):
        raise InputError("expires_at", "must be after issued_at")


def unclaimable(token: ViewerToken | None, region: Region, at: datetime) -> BrokerError:
    """Why a claim of ``token`` at ``region``'s viewer at ``at`` matched nothing."""
    if token is None:
        return NotFoundError("viewer_token_unknown", "unknown viewer link")
    session_id = token.session_id
    if token.region != region:
        return RegionMismatch(
            "viewer_token_region", "the link is for another region's viewer", session_id=session_id
        )
    if token.claimed_at is not None:
        return ConflictError(
            "viewer_token_used", "the link was used already", session_id=session_id
        )
    if at >= token.expires_at:
        return ConflictError("viewer_token_expired", "the link has expired", session_id=session_id)
    return ConflictError("viewer_token_race", "the link changed meanwhile", session_id=session_id)


def check_values(bundle: ImportBundle) -> None:
    """Refuse values the schema would refuse, and ids given twice, by field path."""
    _unique("orgs", "id", (o.id for o in bundle.orgs))
    _unique("staff", "id", (s.id for s in bundle.staff))
    _unique("tickets", "id", (t.id for t in bundle.tickets))
    _unique("targets", "name", ((t.org_id, t.name) for t in bundle.targets))
    _each("orgs", "tier", [o.tier for o in bundle.orgs], lambda v: v in TIERS)
    _each("orgs", "region", [o.region for o in bundle.orgs], bool)
    _each("tickets", "scope", [t.scope for t in bundle.tickets], lambda v: v in SCOPES)
    _each("tickets", "status", [t.status for t in bundle.tickets], TICKET_STATUSES.__contains__)
    _each("tickets", "severity", [t.severity for t in bundle.tickets], _severity)
    _each("targets", "port", [t.port for t in bundle.targets], _port)


def _severity(value: Any) -> bool:
    return type(value) is int and 1 <= value <= 4


def _port(value: Any) -> bool:
    return type(value) is int and 1 <= value <= 65535


def _each(kind: str, name: str, values: Sequence[Any], ok: Callable[[Any], bool]) -> None:
    for index, value in enumerate(values):
        if not ok(value):
            raise InputError(f"{kind}[{index}].{name}", "is not an allowed value")


def _unique(kind: str, name: str, keys: Iterable[Hashable]) -> None:
    seen: set[Hashable] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise InputError(f"{kind}[{index}].{name}", "appears twice in the bundle")
        seen.add(key)
