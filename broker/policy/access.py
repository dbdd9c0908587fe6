"""Access modes: how an allowed session may reach its target.

``view`` is the in-region viewer (the region renders the terminal; only
pixels leave it); ``terminal`` is SSH through the gateway, whose screen text
lands on the engineer's machine. The rules:

- a ticket of a region outside the EEA: both modes;
- an EEA ticket: ``view`` only, unless the org is of tier ``standard`` and
  opted in with ``terminal_access``;
- an ``eea_only`` org never gets ``terminal`` on an EEA ticket, whatever the
  ticket's scope. Its non-product scopes fall back to ``standard`` for *who*
  may work them (``effective_tier``), but the fallback widens the staff, not
  the way in: text leaving the region is what EEA-only support rules out, and
  the flag ``terminal_access`` of an ``eea_only`` org is ignored.
"""

from __future__ import annotations

from broker.policy.config import DEFAULT, PolicyConfig
from broker.typing import TIERS, AccessMode

VIEW_ONLY: tuple[AccessMode, ...] = ("view",)
VIEW_AND_TERMINAL: tuple[AccessMode, ...] = ("view", "terminal")
NONE: tuple[AccessMode, ...] = ()
"""A denial allows no mode."""


def access_modes(eea_region: bool, tier: str, terminal_access: bool) -> tuple[AccessMode, ...]:
    """The modes an allowed session on such a ticket may use (module docstring)."""
    if not eea_region:
        return VIEW_AND_TERMINAL
    if tier == "standard" and terminal_access is True:
        return VIEW_AND_TERMINAL
    return VIEW_ONLY


def ticket_access(
    region: str, tier: str, terminal_access: bool, config: PolicyConfig = DEFAULT
) -> tuple[AccessMode, ...]:
    """For routing: the modes an allowed session on this org's ticket would get.

    An unknown region or tier gets none (fail closed), as ``decide`` would deny.
    """
    eea = config.region_eea.get(region)
    if eea is None or tier not in TIERS:
        return NONE
    return access_modes(eea, tier, terminal_access)
