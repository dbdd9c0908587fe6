"""The dependencies every service shares, bundled once, and the events they share.

Every write a service makes follows one pattern, so that a write and its
audit record succeed or fail together: check the events it will emit with
the sink (``EventSink.check``: the type, every field's encoding, a trail
that accepts writes), then write, then emit. An event that could not be
recorded thus fails the request before anything changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from broker.audit.redact import Redactor
from broker.ca import CARegistry
from broker.clock import Clock
from broker.config import Config
from broker.errors import UnavailableError
from broker.events import EventSink
from broker.models import Session
from broker.notify.base import Notifier, NullNotifier
from broker.policy import PolicyConfig
from broker.store.base import SettingChange, Store
from broker.typing import Region


@dataclass(frozen=True, slots=True)
class GatewayAddress:
    """Where a region's gateway listens."""

    host: str
    port: int
    host_key: str | None = None
    """The gateway's public host key (OpenSSH line), for the client's known_hosts."""
    viewer: str | None = None
    """The region's browser viewer (``http://host:port``), when it runs one."""


@dataclass(slots=True)
class Context:
    """Store, CAs, policy settings, events and clock for one broker instance."""

    config: Config
    store: Store
    cas: CARegistry
    events: EventSink
    clock: Clock
    policy: PolicyConfig
    gateways: dict[Region, GatewayAddress] = field(default_factory=dict)
    notifier: Notifier = field(default_factory=NullNotifier)
    """Tells an org's admins of new consent requests (``broker.notify``)."""
    # -- consent requests (issue 25) --
    redactor: Redactor | None = None
    """Pseudonymises free text before it is stored (the audit trail's, region-keyed);
    None refuses to store any (fail closed)."""

    units_required: bool = False
    """Split roles (``broker api``): a grant needs a live unit of its region in ``gateways``
    (kept from the store's unit registry by ``broker.runtime.control``)."""

    def gateway_for(self, region: Region) -> GatewayAddress | None:
        """The region's gateway, if this instance knows one."""
        return self.gateways.get(region)

    def require_unit(self, region: Region) -> None:
        """Fail closed (503 ``region_unavailable``) when no live, healthy unit serves ``region``."""
        if self.units_required and region not in self.gateways:
            raise UnavailableError(
                "region_unavailable",
                f"no live, healthy unit serves {region}",
                region=region,
            )


def check_revocations(
    ctx: Context, regions: Iterable[Region], reason: str, **caller: object
) -> None:
    """Check, before a write that may end sessions, that ``announce_revoked`` can record them.

    The sessions are not known until the write has ended them; their events
    differ only in ids, so one stand-in per region is checked."""
    for region in regions:
        ctx.events.check(
            "session.revoked",
            region=region,
            session_id="check",
            reason=reason,
            **caller,
        )


def announce_revoked(ctx: Context, sessions: list[Session], reason: str, **caller: object) -> None:
    """Emit ``session.revoked`` for each session ended (``caller``: actor, source_ip)."""
    for session in sessions:
        ctx.events.emit(
            "session.revoked",
            region=session.region,
            **session.ids(),
            consent_id=session.consent_id,
            reason=reason,
            **caller,
        )


def announce_settings(
    events: EventSink, changes: Sequence[SettingChange], **caller: object
) -> None:
    """Emit ``org.setting_changed`` for each audited org setting an import changed.

    One event per change, in the org's region, with the old and new value:
    turning terminals on for an org's EEA tickets is a decision an auditor
    must find on its own, not inside an import's counts.
    """
    for change in changes:
        events.emit(
            "org.setting_changed",
            region=change.region,
            org_id=change.org_id,
            key=change.key,
            old_value=change.old,
            new_value=change.new,
            **caller,
        )
