"""The access policy: pure functions over plain data (no I/O, no clock reads).

``decide`` answers "may this staff member open a session on this ticket now,
and how (``access``: view and/or terminal)?";
``classify_staff`` answers the routing question per staff country;
``support_window`` says when a ticket is due to be worked. Region and country
tables are data with their source and date; ``PolicyConfig`` can extend them.
"""

from __future__ import annotations

from broker.policy.access import VIEW_AND_TERMINAL, VIEW_ONLY, access_modes, ticket_access
from broker.policy.config import DEFAULT, PolicyConfig
from broker.policy.countries import ADEQUACY, CONSENT, EEA, SCC, CountrySet
from broker.policy.decide import (
    AccessRequest,
    ConsentGrant,
    Decision,
    classify_staff,
    decide,
    for_mode,
    grant_ttl,
    needs_eea_only_waiver,
)
from broker.policy.explain import explain, parse_request
from broker.policy.regions import REGIONS, region_country
from broker.policy.routing import Route, effective_tier
from broker.policy.windows import SupportWindow, next_open, open_now, support_window

__all__ = [
    "ADEQUACY",
    "CONSENT",
    "DEFAULT",
    "EEA",
    "REGIONS",
    "SCC",
    "VIEW_AND_TERMINAL",
    "VIEW_ONLY",
    "AccessRequest",
    "ConsentGrant",
    "CountrySet",
    "Decision",
    "PolicyConfig",
    "Route",
    "SupportWindow",
    "access_modes",
    "classify_staff",
    "decide",
    "effective_tier",
    "explain",
    "for_mode",
    "grant_ttl",
    "needs_eea_only_waiver",
    "next_open",
    "open_now",
    "parse_request",
    "region_country",
    "support_window",
    "ticket_access",
]
