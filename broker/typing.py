"""Domain types, named once for the whole package (after structlog's ``typing``).

``NewType`` keeps ids from being mixed up at type-check time while costing
nothing at run time: a ``SessionId`` is a ``str`` to the interpreter.
"""

from __future__ import annotations

from typing import Literal, NewType

Region = NewType("Region", str)
"""An AWS region code, e.g. ``eu-central-1``."""

CountryCode = NewType("CountryCode", str)
"""An ISO 3166-1 alpha-2 country code, upper case, e.g. ``DE``."""

OrgId = NewType("OrgId", str)
StaffId = NewType("StaffId", str)
TicketId = NewType("TicketId", str)
TargetName = NewType("TargetName", str)
SessionId = NewType("SessionId", str)
ConsentId = NewType("ConsentId", str)
ConsentRequestId = NewType("ConsentRequestId", str)
"""An engineer's request for a customer's consent (``broker.models.ConsentRequest``)."""
Subject = NewType("Subject", str)
TokenDigest = NewType("TokenDigest", str)
"""The SHA-256 hex digest of a viewer token: the only form a store holds."""
"""The authenticated principal of an API call (a staff id, admin id, ...)."""
UnitId = NewType("UnitId", str)
"""One regional unit (replica) of a region: ``broker region``'s ``replica_id``."""
WriterId = NewType("WriterId", str)
"""Who writes one audit chain of a region: ``main``, ``api``, ``eu-central-1-a1b2``.

Lower-case letters, digits and inner hyphens, at most 63 characters
(``broker.state.check_writer``): it names a folder and a log stream. A region's
chain is identified by (region, writer); each writer process has its own."""

Tier = Literal["standard", "eea_only"]
Scope = Literal["product", "cas", "professional_services", "third_party", "subprocessor"]
TicketStatus = Literal["open", "closed"]
Basis = Literal["intra-eea", "adequacy", "scc", "consent", "not-eea"]
Role = Literal["engineer", "customer_admin", "ops", "admin"]
SessionState = Literal["issued", "connected", "closed", "revoked", "expired"]
ConsentRequestState = Literal["pending", "approved", "denied", "expired", "cancelled"]
"""A consent request's state as read: ``pending`` past its expiry reads ``expired``."""
AccessMode = Literal["view", "terminal"]
"""How a session reaches its target: ``view`` (the region renders the terminal,
the engineer's browser gets pixels) or ``terminal`` (SSH through the gateway)."""

TIERS: tuple[Tier, ...] = ("standard", "eea_only")
SCOPES: tuple[Scope, ...] = (
    "product",
    "cas",
    "professional_services",
    "third_party",
    "subprocessor",
)
TICKET_STATUSES: tuple[TicketStatus, ...] = ("open", "closed")
ROLES: tuple[Role, ...] = ("engineer", "customer_admin", "ops", "admin")
SESSION_STATES: tuple[SessionState, ...] = ("issued", "connected", "closed", "revoked", "expired")
ACCESS_MODES: tuple[AccessMode, ...] = ("view", "terminal")
CONSENT_REQUEST_STATES: tuple[ConsentRequestState, ...] = (
    "pending",
    "approved",
    "denied",
    "expired",
    "cancelled",
)
LIVE_SESSION_STATES: tuple[SessionState, ...] = ("issued", "connected")

# -- console (broker/console/) ------------------------------------------
ConsoleKind = Literal["session", "link", "login"]
"""What a console record is: a signed-in ``session`` (its cookie), a one-time
sign-in ``link`` (``broker console-link``) or an OIDC ``login`` in progress."""
CONSOLE_KINDS: tuple[ConsoleKind, ...] = ("session", "link", "login")
