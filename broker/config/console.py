"""The console's settings (``[console]`` in the config file): sign-in issuers and timeouts.

One OpenID Connect issuer signs staff in (engineers, ops, admins); each
customer org may name its own issuer for its customer admins, with the claim
that carries the org. Which broker role a signed-in person gets comes from a
claim of the ID token, mapped here value by value: an IdP group the mapping
does not name grants nothing. An org's issuer can only ever grant
``customer_admin`` of that org.

Every error names the field (``console.orgs[0].issuer``), so a typo fails
the start, never the first sign-in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from broker.errors import InputError
from broker.typing import ROLES, OrgId, Role

CookieSecurity = Literal["auto", "always", "never"]
COOKIE_SECURITY: tuple[CookieSecurity, ...] = ("auto", "always", "never")


@dataclass(frozen=True, slots=True)
class Issuer:
    """One OpenID Connect provider the console trusts, and how to read its ID tokens."""

    issuer: str
    client_id: str
    client_secret: str | None = None
    """None: a public client (PKCE alone); else ``client_secret_post`` at the token endpoint."""
    role_claim: str = "roles"
    """The claim holding the person's groups (a string or a list of strings)."""
    roles: Mapping[str, Role] = field(default_factory=dict)
    """IdP group -> broker role. The first group (in the claim's order) that maps wins."""
    scopes: tuple[str, ...] = ("openid",)
    org: OrgId | None = None
    """The customer org this issuer signs admins in for (None: the staff issuer)."""
    org_claim: str = "org"
    """For an org's issuer: the claim that must hold ``org``."""


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The parsed ``[console]`` table."""

    staff: Issuer | None = None
    orgs: tuple[Issuer, ...] = ()
    idle_timeout_seconds: int = 30 * 60
    absolute_timeout_seconds: int = 8 * 3600
    secure_cookies: CookieSecurity = "auto"
    """``auto``: Secure when the request came over TLS (or, with ``trust_forwarded_proto``,
    when the proxy says ``X-Forwarded-Proto: https``)."""
    trust_forwarded_proto: bool = False
    public_url: str | None = None
    """The console's own URL as browsers reach it (for the IdP's redirect URI and the
    Origin check); None: the request's own scheme and host."""

    def issuer_for(self, key: str) -> Issuer | None:
        """The issuer a sign-in button names: ``staff`` or an org id."""
        if key == "staff":
            return self.staff
        return next((i for i in self.orgs if i.org == key), None)


def _url(value: object, name: str) -> str:
    """An https URL, or http on a loopback host (tests and local IdPs)."""
    if not isinstance(value, str) or not value:
        raise InputError(name, "must be a URL")
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value.rstrip("/") if parts.path in ("", "/") else value
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return value
    raise InputError(name, "must be an https URL (http only on a loopback host)")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _text(data: Mapping[str, Any], key: str, name: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise InputError(name, "must be a non-empty string")
    return value


def _roles(value: object, name: str, org: OrgId | None) -> dict[str, Role]:
    if not isinstance(value, dict) or not value:
        raise InputError(name, "must map at least one IdP group to a role")
    # Only an org's own issuer makes customer admins: the org comes from its config.
    allowed = (
        ("customer_admin",) if org is not None else tuple(r for r in ROLES if r != "customer_admin")
    )
    for group, role in value.items():
        if role not in allowed:
            raise InputError(f"{name}.{group}", f"must be one of {', '.join(allowed)}")
    return cast(dict[str, Role], dict(value))


ISSUER_KEYS = ("issuer", "client_id", "client_secret", "role_claim", "roles", "scopes")


def _issuer(data: object, name: str, org_issuer: bool) -> Issuer:
    if not isinstance(data, dict):
        raise InputError(name, "must be a mapping")
    known = (*ISSUER_KEYS, "org", "org_claim") if org_issuer else ISSUER_KEYS
    _no_unknown(data, known, name)
    org = OrgId(_text(data, "org", f"{name}.org")) if org_issuer else None
    secret = data.get("client_secret")
    if secret is not None and not isinstance(secret, str):
        raise InputError(f"{name}.client_secret", "must be a string")
    scopes = data.get("scopes", ["openid"])
    if not isinstance(scopes, list) or "openid" not in scopes:
        raise InputError(f"{name}.scopes", "must be a list of strings including 'openid'")
    return Issuer(
        issuer=_url(data.get("issuer"), f"{name}.issuer"),
        client_id=_text(data, "client_id", f"{name}.client_id"),
        client_secret=secret,
        role_claim=_text(data, "role_claim", f"{name}.role_claim", "roles"),
        roles=_roles(data.get("roles"), f"{name}.roles", org),
        scopes=tuple(str(s) for s in scopes),
        org=org,
        org_claim=_text(data, "org_claim", f"{name}.org_claim", "org") if org_issuer else "org",
    )


def _no_unknown(data: Mapping[str, Any], known: tuple[str, ...], name: str) -> None:
    for key in data:
        if key not in known:
            raise InputError(f"{name}.{key}", "unknown setting")


TOP_KEYS = (
    "staff",
    "orgs",
    "idle_timeout_seconds",
    "absolute_timeout_seconds",
    "secure_cookies",
    "trust_forwarded_proto",
    "public_url",
)


def _seconds(data: Mapping[str, Any], key: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= 7 * 86400:
        raise InputError(f"console.{key}", "must be a whole number of seconds, 60 to 604800")
    return value


def console_settings(data: Mapping[str, Any]) -> ConsoleSettings:
    """The ``[console]`` table, checked; an empty one is the local-mode default."""
    _no_unknown(data, TOP_KEYS, "console")
    staff = _issuer(data["staff"], "console.staff", False) if "staff" in data else None
    orgs_raw = data.get("orgs", [])
    if not isinstance(orgs_raw, list):
        raise InputError("console.orgs", "must be a list of tables")
    orgs = tuple(_issuer(o, f"console.orgs[{i}]", True) for i, o in enumerate(orgs_raw))
    if len({o.org for o in orgs}) != len(orgs):
        raise InputError("console.orgs", "names an org twice")
    idle = _seconds(data, "idle_timeout_seconds", 30 * 60)
    absolute = _seconds(data, "absolute_timeout_seconds", 8 * 3600)
    if idle > absolute:
        raise InputError("console.idle_timeout_seconds", "must not exceed the absolute timeout")
    secure = data.get("secure_cookies", "auto")
    if secure not in COOKIE_SECURITY:
        raise InputError("console.secure_cookies", "must be auto, always or never")
    forwarded = data.get("trust_forwarded_proto", False)
    if not isinstance(forwarded, bool):
        raise InputError("console.trust_forwarded_proto", "must be true or false")
    public = data.get("public_url")
    return ConsoleSettings(
        staff,
        orgs,
        idle,
        absolute,
        secure,
        forwarded,
        _url(public, "console.public_url").rstrip("/") if public is not None else None,
    )
