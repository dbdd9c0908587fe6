"""Bearer-token verification: JWTs of one issuer checked against its JWKS.

Tokens are JWTs carrying ``sub``, ``role`` (engineer, customer_admin, ops,
admin), ``org`` for a customer admin, and ``iss``/``aud``/``iat``/``exp``.
``JwksVerifier`` checks tokens of a configured issuer against its JWKS, given
as a JSON document or a file path (no network fetching); the local authority
(``broker.auth.local``) verifies its own tokens the same way.

Every failure is an ``AuthenticationError`` with a fixed reason that never
repeats anything from the token. Time comes from a ``Clock``, not PyJWT's own
clock, so tests can move it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import jwt

from broker.auth.principal import Principal, check_principal
from broker.clock import Clock
from broker.errors import AuthenticationError, InputError

DEFAULT_AUDIENCE = "urn:broker:api"
LEEWAY = timedelta(seconds=5)
MAX_LIFETIME = timedelta(hours=12)
"""The default longest life of a token (``auth.max_token_lifetime_seconds``)."""

ALGORITHMS = frozenset(
    {"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
"""Asymmetric algorithms only: no ``none``, no shared-secret HMAC."""

_REQUIRED = ["iss", "aud", "sub", "iat", "exp", "role"]
_MAX_TOKEN = 8 * 1024
_MAX_CACHED_TOKENS = 4096
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


def _invalid() -> AuthenticationError:
    """The one answer for every malformed, forged or misdirected token."""
    return AuthenticationError("token_invalid", "bearer token is invalid")


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
        self._max_life = check_lifetime(max_lifetime).total_seconds()
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


def check_lifetime(lifetime: timedelta) -> timedelta:
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
        return check_principal(claims["sub"], claims["role"], claims.get("org"), token=True)
    except InputError as error:
        if error.field == "subject":
            raise AuthenticationError(
                "token_subject_invalid", "token subject is not an identifier"
            ) from None
        raise _invalid() from None
