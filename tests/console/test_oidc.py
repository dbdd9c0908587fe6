"""``broker.console.oidc``: the ID token's checks and the role mapping, against a small issuer.

The issuer here is an aiohttp server on loopback publishing a discovery
document and a JWKS; tokens are signed with joserfc, as any provider's are.
The real provider's round trip is ``test_oidc_browser.py``'s.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from broker.clock import SystemClock
from broker.config.console import Issuer
from broker.console.oidc import OidcClient, principal_of
from broker.errors import AuthenticationError


@dataclass
class FakeIssuer:
    """Discovery and JWKS on loopback; ``keys`` is what the JWKS publishes now."""

    url: str = ""
    keys: list[RSAKey] = field(default_factory=list)

    def token(self, key: RSAKey | None = None, alg: str = "RS256", **claims: Any) -> str:
        """An ID token for client ``c1`` with nonce ``n1``, signed by ``key``; ``claims`` win."""
        now = int(time.time())
        base = {"iss": self.url, "aud": "c1", "sub": "ops-1", "nonce": "n1", "iat": now,
                "exp": now + 300}  # fmt: skip
        body = {k: v for k, v in {**base, **claims}.items() if v is not None}
        signer = key or self.keys[0]
        return jwt.encode({"alg": alg, "kid": signer.kid}, body, signer)


@pytest.fixture
async def issuer() -> AsyncIterator[FakeIssuer]:
    """The issuer, serving one RSA key."""
    made = FakeIssuer(keys=[RSAKey.generate_key(2048, parameters={"kid": "k1"})])

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response({"issuer": made.url, "jwks_uri": f"{made.url}/jwks"})

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [k.as_dict(private=False) for k in made.keys]})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/jwks", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    made.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield made
    await runner.cleanup()


@pytest.fixture
async def client(issuer: FakeIssuer) -> AsyncIterator[OidcClient]:
    """The console's client of that issuer (client id ``c1``)."""
    config = Issuer(issuer.url, "c1", roles={"ops-group": "ops"})
    async with aiohttp.ClientSession() as http:
        yield OidcClient(config, http, SystemClock())


def _hour_ago() -> int:
    return int(time.time()) - 3600


REFUSED: list[Any] = [
    pytest.param({"nonce": "n2"}, "nonce", id="other-nonce"),
    pytest.param({"nonce": None}, "nonce", id="no-nonce"),
    pytest.param({"iss": "https://evil.example"}, "iss", id="other-issuer"),
    pytest.param({"aud": "c2"}, "aud", id="other-client"),
    pytest.param({"exp": None}, "exp", id="no-expiry"),
    pytest.param({"sub": None}, "sub", id="no-subject"),
    pytest.param({"aud": ["c1", "c2"]}, "azp", id="several-audiences-no-azp"),
]


class TestClaims:
    """What an ID token must be before anyone is signed in."""

    async def test_good_token(self, issuer: FakeIssuer, client: OidcClient) -> None:
        """A token of this issuer, for this client, with this login's nonce, passes."""
        claims = await client.claims(issuer.token(), "n1")
        assert claims["sub"] == "ops-1"

    @pytest.mark.parametrize(("changes", "named"), REFUSED)
    async def test_refused(
        self, issuer: FakeIssuer, client: OidcClient, changes: dict[str, Any], named: str
    ) -> None:
        """Each wrong or missing claim is refused, and the reason names the claim."""
        with pytest.raises(AuthenticationError) as caught:
            await client.claims(issuer.token(**changes), "n1")
        assert named in caught.value.reason

    async def test_expired(self, issuer: FakeIssuer, client: OidcClient) -> None:
        """Expired beyond the 60 s leeway: refused."""
        with pytest.raises(AuthenticationError) as caught:
            await client.claims(issuer.token(exp=_hour_ago(), iat=_hour_ago() - 60), "n1")
        assert "exp" in caught.value.reason

    async def test_hmac_with_a_guessable_key_is_refused(
        self, issuer: FakeIssuer, client: OidcClient
    ) -> None:
        """Only the issuer's published asymmetric keys sign: an HS256 token is refused."""
        secret = OctKey.import_key("c1-client-secret-is-not-a-key-00", {"kid": "k1"})
        forged = jwt.encode({"alg": "HS256", "kid": "k1"}, {"sub": "adm-1"}, secret)
        with pytest.raises(AuthenticationError):
            await client.claims(forged, "n1")

    async def test_unknown_key_refetches_once(self, issuer: FakeIssuer, client: OidcClient) -> None:
        """A rotated key the client has not seen is fetched; a key never published fails."""
        await client.claims(issuer.token(), "n1")
        rotated = RSAKey.generate_key(2048, parameters={"kid": "k2"})
        issuer.keys.append(rotated)
        assert (await client.claims(issuer.token(rotated), "n1"))["sub"] == "ops-1"
        stranger = RSAKey.generate_key(2048, parameters={"kid": "k3"})
        with pytest.raises(AuthenticationError):
            await client.claims(issuer.token(stranger), "n1")


ORG = Issuer("https://idp.acme.example", "c1", roles={"admins": "customer_admin"},
             org="acme-de", org_claim="tenant")  # fmt: skip
STAFF = Issuer("https://login.example", "c1", role_claim="groups",
               roles={"support": "engineer", "leads": "ops"})  # fmt: skip

MAPPED: list[Any] = [
    pytest.param(STAFF, {"sub": "eng-de-1", "groups": ["misc", "support"]}, "engineer", None,
                 id="first-mapped-group"),
    pytest.param(STAFF, {"sub": "ops-1", "groups": "leads"}, "ops", None, id="string-claim"),
    pytest.param(ORG, {"sub": "ca-1", "roles": ["admins"], "tenant": "acme-de"},
                 "customer_admin", "acme-de", id="org-admin"),
]  # fmt: skip
NOT_MAPPED: list[Any] = [
    pytest.param(STAFF, {"sub": "x-1", "groups": ["misc"]}, "oidc_no_role", id="no-group"),
    pytest.param(STAFF, {"sub": "x-1"}, "oidc_no_role", id="no-claim"),
    pytest.param(ORG, {"sub": "ca-1", "roles": ["admins"], "tenant": "shop-us"},
                 "oidc_wrong_org", id="other-org"),
    pytest.param(ORG, {"sub": "ca-1", "roles": ["admins"]}, "oidc_wrong_org", id="no-org"),
    pytest.param(STAFF, {"sub": "a@b.example", "groups": ["support"]}, "oidc_bad_subject",
                 id="email-subject"),
]  # fmt: skip


class TestPrincipalOf:
    """Claims to a broker principal through the config's role map."""

    @pytest.mark.parametrize(("config", "claims", "role", "org"), MAPPED)
    def test_mapped(self, config: Issuer, claims: dict[str, Any], role: str, org: Any) -> None:
        """The first group the map names decides; an org issuer's principal carries its org."""
        who = principal_of(config, claims)
        assert (who.subject, who.role, who.org) == (claims["sub"], role, org)

    @pytest.mark.parametrize(("config", "claims", "code"), NOT_MAPPED)
    def test_refused(self, config: Issuer, claims: dict[str, Any], code: str) -> None:
        """No mapped group, the wrong org, or a subject that is not an id: nobody."""
        with pytest.raises(AuthenticationError) as caught:
            principal_of(config, claims)
        assert caught.value.code == code
