"""Plain records the store keeps and every layer passes around.

They are frozen dataclasses with no behaviour that does I/O, so the pure policy
can read them. Deliberately absent: names, emails, phone numbers. The broker
never needs them, so it never holds them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from broker.state import MAIN_WRITER
from broker.typing import (
    AccessMode,
    Basis,
    ConsentId,
    ConsentRequestId,
    ConsentRequestState,
    ConsoleKind,
    CountryCode,
    OrgId,
    Region,
    Scope,
    SessionId,
    SessionState,
    StaffId,
    Subject,
    TargetName,
    TicketId,
    TicketStatus,
    Tier,
    TokenDigest,
    WriterId,
)


@dataclass(frozen=True, slots=True)
class Org:
    """A customer organisation; its region is where all its data lives.

    ``terminal_access`` is a ``standard`` org's opt-in to SSH terminals on its
    EEA tickets; without it they get the in-region viewer only.
    ``require_watch`` holds a view session on its EEA tickets until one of the
    org's customer admins watches it live, and pauses it when the last leaves.
    """

    id: OrgId
    region: Region
    tier: Tier
    record_input: bool = True
    terminal_access: bool = False
    require_watch: bool = False


@dataclass(frozen=True, slots=True)
class Staff:
    """A support engineer. The country is where they work from, per HR record."""

    id: StaffId
    country: CountryCode
    active: bool = True


@dataclass(frozen=True, slots=True)
class Ticket:
    """A support ticket of one org."""

    id: TicketId
    org_id: OrgId
    severity: int
    scope: Scope
    status: TicketStatus = "open"


@dataclass(frozen=True, slots=True)
class Target:
    """A host of one org, in the org's region, that sessions may reach.

    In local mode ``host``/``port``/``user``/``host_key`` come from the
    inventory; in AWS mode the host is resolved from EC2 tags at connect time.
    """

    org_id: OrgId
    name: TargetName
    region: Region
    host: str
    port: int = 22
    user: str = "support"
    host_key: str | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """A customer admin's consent: one ticket, one named staff member, until expiry.

    ``waives_eea_only`` is the admin's explicit waiver of EEA-only support: an
    ``eea_only`` org's consent for staff outside the EEA counts only with it.
    """

    id: ConsentId
    org_id: OrgId
    ticket_id: TicketId
    staff_id: StaffId
    granted_by: Subject
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    waives_eea_only: bool = False

    def valid_at(self, at: datetime) -> bool:
        """True while not revoked and strictly before expiry."""
        return self.revoked_at is None and at < self.expires_at


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """An engineer's request that the ticket's org consent to their access.

    ``reason`` and ``deny_reason`` are free text as stored: already
    pseudonymised with the region's key (phones, emails), never in any audit
    record or log, and shown only to the requester and the org's admins.
    A ``pending`` request reads ``expired`` from ``expires_at`` on
    (``as_of``); once decided (approved, denied, cancelled or swept to
    expired) it never changes again. An approval names the consent it made.
    """

    id: ConsentRequestId
    org_id: OrgId
    region: Region
    ticket_id: TicketId
    staff_id: StaffId
    staff_country: CountryCode
    duration_seconds: int
    reason: str
    state: ConsentRequestState
    created_at: datetime
    expires_at: datetime
    decided_by: Subject | None = None
    decided_at: datetime | None = None
    granted_seconds: int | None = None
    deny_reason: str | None = None
    consent_id: ConsentId | None = None

    def as_of(self, now: datetime) -> ConsentRequest:
        """The request as a reader at ``now`` sees it: unanswered past expiry reads expired.

        Derived on read, like ``Session.as_of``, so no reader sees a request
        ``pending`` after its expiry however late the sweep runs."""
        if self.state != "pending" or now < self.expires_at:
            return self
        return replace(self, state="expired")

    def ids(self) -> dict[str, str]:
        """The ids every event about this request carries."""
        return {
            "consent_request_id": self.id,
            "org_id": self.org_id,
            "ticket_id": self.ticket_id,
            "staff_id": self.staff_id,
        }


EXPIRED_UNUSED = "expired_unused"
"""The end reason of a session that expired before it ever connected."""


@dataclass(frozen=True, slots=True)
class Session:
    """A granted session; ``region`` is copied from the org at issue time.

    ``access`` is how it is reached: a ``view`` session has no certificate and
    the gateway refuses SSH logins to it.
    """

    id: SessionId
    org_id: OrgId
    ticket_id: TicketId
    staff_id: StaffId
    target: TargetName
    region: Region
    basis: Basis
    state: SessionState
    created_at: datetime
    valid_before: datetime
    consent_id: ConsentId | None = None
    source_address: str | None = None
    cert_serial: int | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    access: AccessMode = "terminal"

    def ids(self) -> dict[str, str]:
        """The ids every event about this session carries (the TIA groups by them)."""
        return {
            "session_id": self.id,
            "org_id": self.org_id,
            "ticket_id": self.ticket_id,
            "staff_id": self.staff_id,
        }

    def as_of(self, now: datetime) -> Session:
        """The session as a reader at ``now`` sees it, in every store alike.

        An ``issued`` session whose ``valid_before`` has passed was never used
        and can never be: it reads as ``expired`` (ended at ``valid_before``,
        reason ``expired_unused``). Derived on read rather than swept, so no
        read shows it ``issued`` in the gap before a sweep; the stored row
        keeps ``issued``, which no transition accepts past its expiry."""
        if self.state != "issued" or now < self.valid_before:
            return self
        return replace(self, state="expired", ended_at=self.valid_before, end_reason=EXPIRED_UNUSED)

    def live_at(self, at: datetime) -> bool:
        """True when the session may still carry traffic at ``at``."""
        return self.state in ("issued", "connected") and at < self.valid_before


@dataclass(frozen=True, slots=True)
class Anchor:
    """One chain's sealed head, kept outside the writer's folder.

    A chain is (``region``, ``writer``): each writer of a region anchors its own
    chain, apart from the others. ``number`` counts a chain's anchors from 1
    (its single writer writes them in order); ``seq`` and ``hash`` name the last
    record sealed and ``segment``/``offset`` where its line ends, so a writer
    finds it without reading the chain. ``final`` marks the anchor a clean
    stop writes: records after a final anchor were not written by the broker.
    ``writer`` is last, defaulting to ``main``, the writer of every anchor from
    before writers existed.
    """

    region: Region
    number: int
    seq: int
    hash: str
    segment: int
    line: int
    offset: int
    time: str
    final: bool = False
    writer: WriterId = MAIN_WRITER


@dataclass(frozen=True, slots=True)
class ViewerToken:
    """A single-use link into a view session, as the store keeps it (digest only).

    Bound to one session and its region; claimable once, before ``expires_at``.
    """

    digest: TokenDigest
    session_id: SessionId
    region: Region
    staff_id: StaffId
    issued_at: datetime
    expires_at: datetime
    claimed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A console record as the store keeps it: the digest of its secret, never the secret.

    A ``session`` is a signed-in browser (its cookie's digest), usable until
    ``expires_at`` (absolute) while seen within the idle bound; a ``link`` or a
    ``login`` is used once (``ended_at`` set), before ``expires_at``. ``subject``,
    ``role`` and ``org`` are the principal (empty for a login in progress);
    ``data`` is the record's own small JSON (a login's state, nonce and PKCE
    verifier; a session's issuer).
    """

    digest: TokenDigest
    kind: ConsoleKind
    subject: str
    role: str
    org: str | None
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    data: str = "{}"
    ended_at: datetime | None = None
