"""Bearer-token authentication: who is calling, in which role, for which org.

Tokens are JWTs carrying ``sub``, ``role`` (engineer, customer_admin, ops,
admin), ``org`` for a customer admin, and ``iss``/``aud``/``iat``/``exp``.

* Local mode: the broker is its own issuer. ``LocalAuthority`` keeps an Ed25519
  key at ``<state>/auth/jwt-signing.pem`` (0600, created on first use), mints
  EdDSA tokens and publishes the public half as a JWKS.
* Otherwise: ``JwksVerifier`` checks tokens of a configured issuer against its
  JWKS, given as a JSON document or a file path (no network fetching).

Every failure is an ``AuthenticationError`` with a fixed reason that never
repeats anything from the token. Time comes from a ``Clock``, not PyJWT's own
clock, so tests can move it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, Self, cast

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from jwt.algorithms import OKPAlgorithm

from broker import validate as v
from broker.clock import Clock
from broker.errors import AuthenticationError, InputError, UnavailableError
from broker.keys import read_or_create_secret_file
from broker.typing import ROLES, OrgId, Role, Subject

LOCAL_ISSUER = "urn:broker:local"
DEFAULT_AUDIENCE = "urn:broker:api"
LEEWAY = timedelta(seconds=5)
DEFAULT_TTL = timedelta(hours=1)
MAX_LIFETIME = timedelta(hours=12)
"""The default longest life of a token (``auth.max_token_lifetime_seconds``)."""
SIGNING_KEY_FILE = Path("auth") / "jwt-signing.pem"
"""The local signing key, relative to the state folder."""

ALGORITHMS = frozenset(
    {"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
"""Asymmetric algorithms only: no ``none``, no shared-secret HMAC."""

_REQUIRED = ["iss", "aud", "sub", "iat", "exp", "role"]
_MAX_TOKEN = 8 * 1024
_MAX_CACHED_TOKENS = 4096
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


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


def _invalid() -> AuthenticationError:
    """The one answer for every malformed, forged or misdirected token."""
    return AuthenticationError("token_invalid", "bearer token is invalid")


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("token_missing", "a bearer token is required")
    return token.strip()


@dataclass(frozen=True, slots=True)
class _Window:
    """When a verified token may be used, in Unix seconds, the leeway applied.

    Kept beside the cached principal, so a reused token costs two comparisons
    with the clock rather than its claims' checks again."""

    not_before: float
    expires: float


class JwksVerifier:
    """Verifies tokens of one issuer and audience against a JWKS."""

    def __init__(
        self,
        jwks: Mapping[str, Any],
        *,
        issuer: str,
        audience: str = DEFAULT_AUDIENCE,
        clock: Clock,
        leeway: timedelta = LEEWAY,
        max_lifetime: timedelta = MAX_LIFETIME,
    ) -> None:
        self._keys = _usable_keys(jwks)
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._leeway = leeway.total_seconds()
        self._max_life = _positive(max_lifetime).total_seconds()
        # Verified tokens by their exact text: a client reuses its token for
        # many calls, and the signature check dominates a grant's CPU cost.
        self._verified: dict[str, tuple[Principal, _Window]] = {}

    def verify_token(self, token: str) -> Principal:
        """The token's principal; AuthenticationError (``token_*``) otherwise."""
        if not isinstance(token, str) or not token:
            raise AuthenticationError("token_missing", "a bearer token is required")
        cached = self._verified.get(token)
        if cached is not None:
            self._check_window(cached[1])  # times are re-checked on every use
            return cached[0]
        if len(token) > _MAX_TOKEN:
            raise _invalid()
        _check_canonical(token)
        claims = self._decode(token, self._key_for(token))
        window = self._window(claims)
        self._check_window(window)
        principal = _principal(claims)
        if len(self._verified) >= _MAX_CACHED_TOKENS:
            self._verified.clear()
        self._verified[token] = (principal, window)
        return principal

    def _key_for(self, token: str) -> jwt.PyJWK:
        """The JWKS key the token's ``kid`` names (or the only key, without one)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise _invalid() from None
        matches = [key for key in self._keys if key.key_id == kid]
        if kid is None and len(self._keys) == 1:
            matches = self._keys
        if len(matches) != 1:
            raise _invalid()
        return matches[0]

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        """Signature, algorithm, issuer, audience and required claims, via PyJWT."""
        options = {"require": _REQUIRED, "verify_exp": False, "verify_iat": False}
        options |= {"verify_nbf": False, "enforce_minimum_key_length": True}
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                options=cast(Any, options),
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            # ``from None``: PyJWT's messages may quote claim values.
            raise _invalid() from None

    def _window(self, claims: Mapping[str, Any]) -> _Window:
        """When the token may be used, from exp, iat and nbf, widened by the leeway.

        A token that would live longer than the maximum, by its own claims
        (``exp - iat``) or from now (an ``exp`` far ahead), is refused outright."""
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
        if not (_is_number(exp) and _is_number(iat) and _is_number(nbf)):
            raise _invalid()
        latest = self._clock.now().timestamp() + self._max_life + self._leeway
        if exp - iat > self._max_life or exp > latest:
            raise AuthenticationError("token_lifetime", "bearer token lives too long")
        return _Window(max(iat, nbf) - self._leeway, exp + self._leeway)

    def _check_window(self, window: _Window) -> None:
        """The clock's now inside ``window``: else expired, or not valid yet (invalid)."""
        now = self._clock.now().timestamp()
        if now >= window.expires:
            raise AuthenticationError("token_expired", "bearer token has expired")
        if now < window.not_before:
            raise _invalid()


class LocalAuthority:
    """The broker as its own token issuer (local mode): mints and verifies."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        *,
        clock: Clock,
        issuer: str = LOCAL_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        leeway: timedelta = LEEWAY,
        max_lifetime: timedelta = MAX_LIFETIME,
    ) -> None:
        self._key = key
        self._clock = clock
        self._issuer = issuer
        self._audience = audience
        self._max_life = _positive(max_lifetime)
        self.kid: str = _thumbprint(key)
        """The key id: the RFC 7638 thumbprint of the public key."""
        self._verifier = JwksVerifier(
            self.jwks(),
            issuer=issuer,
            audience=audience,
            clock=clock,
            leeway=leeway,
            max_lifetime=max_lifetime,
        )

    @classmethod
    def from_state(
        cls,
        state: Path,
        *,
        clock: Clock,
        audience: str = DEFAULT_AUDIENCE,
        max_lifetime: timedelta = MAX_LIFETIME,
    ) -> Self:
        """The authority whose key is ``<state>/auth/jwt-signing.pem``, made on first use."""
        key = load_signing_key(Path(state))
        return cls(key, clock=clock, audience=audience, max_lifetime=max_lifetime)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS a verifier (or a client) needs for this issuer's tokens."""
        jwk = OKPAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def mint_token(
        self,
        subject: str,
        role: str,
        org: str | None = None,
        ttl: timedelta = DEFAULT_TTL,
    ) -> str:
        """A signed bearer token for ``subject`` in ``role`` (``org`` for customer admins)."""
        principal = _check_principal(subject, role, org)
        if not timedelta(0) < ttl <= self._max_life:
            raise InputError("ttl", f"must be positive and at most {self._max_life}")
        now = int(self._clock.now().timestamp())
        claims: dict[str, Any] = {"iss": self._issuer, "aud": self._audience}
        claims |= {"sub": principal.subject, "role": principal.role}
        claims |= {"iat": now, "exp": now + int(ttl.total_seconds())}
        claims |= {"jti": secrets.token_urlsafe(16)}
        if principal.org is not None:
            claims["org"] = principal.org
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.kid})

    def verify_token(self, token: str) -> Principal:
        """Verify a token this authority minted."""
        return self._verifier.verify_token(token)


def build_verifier(
    state: Path,
    *,
    clock: Clock,
    issuer: str | None = None,
    jwks: Mapping[str, Any] | str | Path | None = None,
    audience: str = DEFAULT_AUDIENCE,
    max_lifetime: timedelta = MAX_LIFETIME,
) -> JwksVerifier | LocalAuthority:
    """Local mode when neither issuer nor JWKS is configured; both, or InputError."""
    if issuer is None and jwks is None:
        return LocalAuthority.from_state(
            state, clock=clock, audience=audience, max_lifetime=max_lifetime
        )
    if issuer is None or jwks is None:
        raise InputError("issuer" if issuer is None else "jwks", "issuer and jwks go together")
    return JwksVerifier(
        load_jwks(jwks), issuer=issuer, audience=audience, clock=clock, max_lifetime=max_lifetime
    )


def load_jwks(source: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    """A JWKS from a mapping, a JSON document, or the path of a JSON file."""
    if isinstance(source, Mapping):
        return source
    text = str(source)
    try:
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        document = json.loads(text)
    except (OSError, ValueError) as error:
        raise InputError("jwks", "not a readable JSON document or file") from error
    if not isinstance(document, Mapping):
        raise InputError("jwks", "a JWKS is a JSON object with 'keys'")
    return document


def load_signing_key(state: Path) -> Ed25519PrivateKey:
    """The local Ed25519 token-signing key, created (0600) on first use."""
    pem = read_or_create_secret_file(state / SIGNING_KEY_FILE, _new_signing_key)
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise UnavailableError("auth_key_invalid", "token signing key cannot be loaded") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise UnavailableError("auth_key_invalid", "token signing key is not Ed25519")
    return key


def _new_signing_key() -> bytes:
    """A fresh Ed25519 key as unencrypted PKCS#8 PEM."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _thumbprint(key: Ed25519PrivateKey) -> str:
    """The RFC 7638 JWK thumbprint of the key's public half."""
    jwk = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _usable_keys(jwks: Mapping[str, Any]) -> list[jwt.PyJWK]:
    """The JWKS's signature keys with an allowed asymmetric algorithm."""
    try:
        keys = jwt.PyJWKSet.from_dict(dict(jwks)).keys
    except (jwt.PyJWTError, TypeError, ValueError, AttributeError) as error:
        raise InputError("jwks", "not a valid JWKS") from error
    usable = [
        key
        for key in keys
        if key.algorithm_name in ALGORITHMS and key.public_key_use in (None, "sig")
    ]
    if not usable:
        raise InputError("jwks", "no asymmetric signature keys")
    return usable


def _check_canonical(token: str) -> None:
    """Three canonical base64url segments, so no two strings carry one token.

    Base64 decoders ignore stray characters and a last character's spare bits;
    requiring the canonical form makes any change to a token invalidate it.
    """
    segments = token.split(".")
    if len(segments) != 3 or not all(_canonical_b64url(s) for s in segments):
        raise _invalid()


def _canonical_b64url(segment: str) -> bool:
    """True when ``segment`` is unpadded base64url that re-encodes to itself."""
    if not _SEGMENT.fullmatch(segment):
        return False
    padded = segment + "=" * (-len(segment) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return False
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") == segment


def _positive(lifetime: timedelta) -> timedelta:
    """``lifetime`` if it is positive, else InputError naming the setting."""
    if lifetime <= timedelta(0):
        raise InputError("auth.max_token_lifetime_seconds", "must be positive")
    return lifetime


def _is_number(value: object) -> bool:
    """A JSON number (bool is an int to Python, but not a time)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _principal(claims: Mapping[str, Any]) -> Principal:
    """The Principal of verified claims; structurally bad claims are invalid tokens.

    A ``sub`` that is not an identifier (``validate.IDENTIFIER``: a display
    name, an email, a phone number) is refused with its own fixed reason: it
    would be stored and audited raw as the actor."""
    try:
        return _check_principal(claims["sub"], claims["role"], claims.get("org"), token=True)
    except InputError as error:
        if error.field == "subject":
            raise AuthenticationError(
                "token_subject_invalid", "token subject is not an identifier"
            ) from None
        raise _invalid() from None


def _check_principal(subject: object, role: object, org: object, token: bool = False) -> Principal:
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
