"""OpenID Connect sign-in: authorization code with PKCE (S256), and the ID token's checks.

Authlib builds the protocol messages (the authorization URI, the token
request, the PKCE challenge); joserfc, Authlib's own JOSE library (its
``authlib.jose`` is deprecated in its favour), verifies the ID token against
the issuer's published keys (JWKS, fetched from its discovery document and
fetched again once when a token names a key it does not hold). The token
must be signed (``none`` and HMAC are refused: the client secret is not a
key), name this issuer (``iss``) and this client (``aud``, and ``azp`` when
there are several), be unexpired (``exp``, 60 s leeway for clocks), carry
the nonce of this login and a subject. Then ``principal_of`` maps its
claims to a broker role through the config, and an org issuer's token must
name its org.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from broker.auth.principal import Principal, check_principal
from broker.clock import Clock
from broker.config.console import ConsoleSettings, Issuer
from broker.errors import AuthenticationError, InputError, NotFoundError, UnavailableError

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
LEEWAY_SECONDS = 60
TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass(frozen=True, slots=True)
class Login:
    """One login's secrets, kept server-side until the IdP answers."""

    issuer_key: str
    state: str
    nonce: str
    verifier: str
    redirect_uri: str

    @classmethod
    def new(cls, issuer_key: str, redirect_uri: str) -> Login:
        """Fresh state, nonce and PKCE verifier (48 random characters each)."""
        return cls(
            issuer_key, generate_token(48), generate_token(48), generate_token(48), redirect_uri
        )

    def to_data(self) -> dict[str, str]:
        """As stored (``ConsoleSignins.begin_login``)."""
        return {
            "issuer": self.issuer_key,
            "state": self.state,
            "nonce": self.nonce,
            "verifier": self.verifier,
            "redirect_uri": self.redirect_uri,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Login:
        """Back from the store."""
        return cls(
            data["issuer"], data["state"], data["nonce"], data["verifier"], data["redirect_uri"]
        )


@dataclass(slots=True)
class OidcClient:
    """The console as a client of one issuer."""

    config: Issuer
    http: aiohttp.ClientSession
    clock: Clock
    _metadata: dict[str, Any] | None = None
    _keys: KeySet | None = field(default=None)

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (once), which must name this very issuer."""
        if self._metadata is None:
            found = await self._get_json(f"{self.config.issuer}/.well-known/openid-configuration")
            if found.get("issuer") != self.config.issuer:
                raise UnavailableError("oidc_discovery", "the IdP's discovery names another issuer")
            self._metadata = found
        return self._metadata

    async def authorize_url(self, login: Login) -> str:
        """Where to send the browser: the IdP's authorization endpoint with this login's values."""
        endpoint = (await self.metadata())["authorization_endpoint"]
        uri: str = prepare_grant_uri(
            endpoint,
            self.config.client_id,
            "code",
            redirect_uri=login.redirect_uri,
            scope=" ".join(self.config.scopes),
            state=login.state,
            nonce=login.nonce,
            code_challenge=create_s256_code_challenge(login.verifier),
            code_challenge_method="S256",
        )
        return uri

    async def id_token(self, login: Login, code: str) -> str:
        """Exchange the code (with the PKCE verifier) for the ID token."""
        body: str = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=login.redirect_uri,
            client_id=self.config.client_id,
            code_verifier=login.verifier,
        )
        if self.config.client_secret is not None:
            body += "&" + urlencode({"client_secret": self.config.client_secret})
        answer = await self._post_form((await self.metadata())["token_endpoint"], body)
        token = answer.get("id_token")
        if not isinstance(token, str):
            raise AuthenticationError("oidc_no_id_token", "the IdP returned no ID token")
        return token

    async def claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, expiry and nonce hold."""
        token = await self._decode(id_token)
        registry = jwt.JWTClaimsRegistry(
            now=int(self.clock.now().timestamp()),
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": self.config.client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as error:
            raise AuthenticationError(
                "oidc_token_invalid", f"ID token: {error.description}"
            ) from error
        audience = token.claims["aud"]
        several = isinstance(audience, list) and len(audience) > 1
        if several and token.claims.get("azp") != self.config.client_id:
            raise AuthenticationError("oidc_token_invalid", "ID token: azp is not this client")
        return dict(token.claims)

    async def _decode(self, id_token: str) -> jwt.Token:
        for fresh in (False, True):
            keys = await self._key_set(fresh)
            try:
                return jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
            except (JoseError, ValueError) as error:
                if fresh or "kid" not in str(error).lower():
                    raise AuthenticationError(
                        "oidc_token_invalid", "ID token: bad signature or format"
                    ) from error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _key_set(self, fresh: bool) -> KeySet:
        if self._keys is None or fresh:
            found = await self._get_json((await self.metadata())["jwks_uri"])
            self._keys = KeySet.import_key_set(found)  # type: ignore[arg-type]
        return self._keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        return await self._call("GET", url, None)

    async def _post_form(self, url: str, body: str) -> dict[str, Any]:
        return await self._call("POST", url, body)

    async def _call(self, method: str, url: str, body: str | None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            async with self.http.request(
                method, url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
            ) as response:
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise UnavailableError("oidc_unreachable", "the IdP did not answer") from error
        if response.status != 200 or not isinstance(answer, dict):
            raise AuthenticationError("oidc_refused", f"the IdP answered {response.status}")
        return answer


def principal_of(config: Issuer, claims: dict[str, Any]) -> Principal:
    """The broker principal an ID token's claims map to through ``config``; else refused."""
    groups = claims.get(config.role_claim)
    names = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
    role = next((config.roles[g] for g in names if isinstance(g, str) and g in config.roles), None)
    if role is None:
        raise AuthenticationError("oidc_no_role", "the IdP grants no console role to this person")
    org = None
    if config.org is not None:
        if claims.get(config.org_claim) != config.org:
            raise AuthenticationError("oidc_wrong_org", "the ID token does not name this org")
        org = config.org
    try:
        return check_principal(claims.get("sub"), role, org)
    except InputError as error:
        raise AuthenticationError(
            "oidc_bad_subject", "the ID token's subject is unusable"
        ) from error


class OidcClients:
    """One ``OidcClient`` per configured issuer (``staff`` or an org id), sharing one HTTP pool."""

    def __init__(self, settings: ConsoleSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._http: aiohttp.ClientSession | None = None
        self._clients: dict[str, OidcClient] = {}

    def get(self, key: str) -> OidcClient:
        """The client of issuer ``key``; ``NotFoundError`` for one the config does not name."""
        if key not in self._clients:
            config = self.settings.issuer_for(key)
            if config is None:
                raise NotFoundError("oidc_issuer_unknown", "no such sign-in")
            if self._http is None:
                self._http = aiohttp.ClientSession()
            self._clients[key] = OidcClient(config, self._http, self.clock)
        return self._clients[key]

    async def close(self) -> None:
        """Close the HTTP pool."""
        if self._http is not None:
            await self._http.close()
