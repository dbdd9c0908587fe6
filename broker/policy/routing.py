"""Country classification tables: which route a staff country takes per tier.

The precedence is EEA > consent > adequacy > SCC, so a country listed both as
an adequacy country and as a consent country (the US) needs consent. The
``eea_only`` table is derived from the ``standard`` one, which is what makes
"``eea_only`` never allows what ``standard`` denies" true by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal

from broker.typing import CountryCode

Route = Literal["intra-eea", "adequacy", "scc", "not-eea", "needs-consent", "denied"]
"""How a staff country may work a ticket: a basis, consent first, or not at all."""

ALLOWING_ROUTES: frozenset[Route] = frozenset({"intra-eea", "adequacy", "scc", "not-eea"})
"""Routes that allow without a consent; each is also the decision's basis."""


def _standard_route(
    country: CountryCode,
    eea: frozenset[CountryCode],
    consent: frozenset[CountryCode],
    adequacy: frozenset[CountryCode],
    scc: frozenset[CountryCode],
) -> Route:
    """Rule 5 of docs/design.md for one country, with the documented precedence."""
    if country in eea:
        return "intra-eea"
    if country in consent:
        return "needs-consent"
    if country in adequacy:
        return "adequacy"
    if country in scc:
        return "scc"
    return "denied"


def _eea_only_route(standard: Route) -> Route:
    """Rule 6 of docs/design.md: EEA staff directly; whoever standard admits, by consent."""
    if standard == "intra-eea":
        return "intra-eea"
    if standard == "denied":
        return "denied"
    return "needs-consent"


def country_routes(
    known: Iterable[CountryCode],
    eea: frozenset[CountryCode],
    adequacy: frozenset[CountryCode],
    scc: frozenset[CountryCode],
    consent: frozenset[CountryCode],
) -> tuple[Mapping[CountryCode, Route], Mapping[CountryCode, Route]]:
    """Precomputed ``(standard, eea_only)`` routes for every known country."""
    standard = {c: _standard_route(c, eea, consent, adequacy, scc) for c in known}
    eea_only = {c: _eea_only_route(route) for c, route in standard.items()}
    return MappingProxyType(standard), MappingProxyType(eea_only)


def effective_tier(tier: str, scope: str) -> str:
    """Rule 4 of docs/design.md: ``eea_only`` covers scope ``product`` only; others fall back.

    An unknown tier is returned unchanged, so callers still see it as unknown.
    """
    if tier == "eea_only" and scope != "product":
        return "standard"
    return tier
