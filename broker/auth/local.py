"""The broker as its own token issuer (local mode), and the choice of verifier.

``LocalAuthority`` keeps an Ed25519 key at ``<state>/auth/jwt-signing.pem``
(0600, created on first use), mints EdDSA tokens and publishes the public half
as a JWKS. ``build_verifier`` picks it when no issuer is configured.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from jwt.algorithms import OKPAlgorithm

from broker.auth.jwks import (
    DEFAULT_AUDIENCE,
    LEEWAY,
    MAX_LIFETIME,
    JwksVerifier,
    check_lifetime,
    load_jwks,
)
from broker.auth.principal import Principal, check_principal
from broker.clock import Clock
from broker.errors import InputError, UnavailableError
from broker.keys import read_or_create_secret_file
from broker.state import StateLayout

LOCAL_ISSUER = "urn:broker:local"
DEFAULT_TTL = timedelta(hours=1)
SIGNING_KEY_FILE = StateLayout(Path()).signing_key
"""The local signing key, relative to the state folder."""


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
        self._max_life = check_lifetime(max_lifetime)
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
        principal = check_principal(subject, role, org)
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


def load_signing_key(state: Path) -> Ed25519PrivateKey:
    """The local Ed25519 token-signing key, created (0600) on first use."""
    pem = read_or_create_secret_file(StateLayout(state).signing_key, _new_signing_key)
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
