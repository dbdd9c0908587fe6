"""Who is calling: the ``Principal`` and the one check of subject, role and org.

A use case receives a ``Principal``; where it came from (a verified bearer
token, the CLI's local authority) is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from broker import validate as v
from broker.errors import AuthenticationError, InputError
from broker.typing import ROLES, OrgId, Role, Subject


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller. ``org`` is set for customer admins only."""

    subject: Subject
    role: Role
    org: OrgId | None = None


class TokenVerifier(Protocol):
    """Turns a bearer token into a Principal, or raises AuthenticationError."""

    def verify_token(self, token: str) -> Principal:
        """The token's principal; AuthenticationError when it is not acceptable."""
        ...


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("token_missing", "a bearer token is required")
    return token.strip()


def check_principal(subject: object, role: object, org: object, token: bool = False) -> Principal:
    """Subject, role and org as a Principal, or InputError naming the field.

    A customer admin needs an org; other roles carry none (a token's stray
    ``org`` claim is ignored, a mint request's is refused).
    """
    subject = v.identifier(subject, "subject")
    if role not in ROLES:
        raise InputError("role", f"must be one of {', '.join(ROLES)}")
    if role != "customer_admin":
        if org is not None and not token:
            raise InputError("org", "only customer_admin tokens carry an org")
        return Principal(Subject(subject), role)
    if org is None:
        raise InputError("org", "customer_admin needs an org")
    return Principal(Subject(subject), role, OrgId(v.identifier(org, "org")))
