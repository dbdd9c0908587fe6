"""One-sentence explanations for the policy's reason codes.

Sentences name rules and fields, never values: no country, person or id
appears, so a message may be logged or shown to anyone who may see the decision.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    "region_unknown": "Denied: the org's region is not in the region table.",
    "tier_unknown": "Denied: the org's support tier is not a known tier.",
    "scope_unknown": "Denied: the ticket's scope is not a known scope.",
    "severity_unknown": "Denied: the ticket's severity is not between 1 and 4.",
    "ticket_status_unknown": "Denied: the ticket's status is not a known status.",
    "country_unknown": "Denied: the staff member's country is not a known ISO 3166 country.",
    "staff_inactive": "Denied: the staff member is not active.",
    "ticket_closed": "Denied: the ticket is closed.",
    "time_without_offset": "Denied: the decision time has no UTC offset.",
    "country_not_permitted": (
        "Denied: staff in this country may not work tickets of this org's region and tier."
    ),
    "consent_required": "Denied: this staff member needs the customer's consent for this ticket.",
    "consent_revoked": "Denied: the customer revoked the consent for this ticket.",
    "consent_expired": "Denied: the customer's consent for this ticket has expired.",
    "consent_expires_too_soon": "Denied: the customer's consent expires in under one second.",
    "consent_time_without_offset": "Denied: the consent's expiry has no UTC offset.",
    "consent_lacks_eea_only_waiver": (
        "Denied: this org has EEA-only support, so a consent for staff outside the EEA"
        " counts only with waives_eea_only set."
    ),
    "terminal_not_allowed": (
        "Denied: this ticket may be worked in the in-region viewer only; ask for a view"
        " session (no public_key)."
    ),
    "view_not_allowed": "Denied: this ticket may not be worked in the viewer.",
    "not_eea": "Allowed: the org's region is outside the EEA, so any active staff may work it.",
    "intra_eea": "Allowed: the staff member works from inside the EEA.",
    "adequacy": "Allowed: the staff member works from a country with an EU adequacy decision.",
    "scc": "Allowed: transfers to the staff member's country run under standard clauses.",
    "consent_valid": "Allowed: the customer consented to this staff member on this ticket.",
    "eea_only_waived": (
        "Allowed: the customer consented to this staff member on this ticket and waived"
        " EEA-only support for it (waives_eea_only)."
    ),
}
"""Reason code -> sentence; every decisive code ``decide`` can return is here."""


def message_for(code: str) -> str:
    """The sentence for ``code``; an unlisted code still gets a neutral sentence."""
    return MESSAGES.get(code, "The access policy decided on this request.")
