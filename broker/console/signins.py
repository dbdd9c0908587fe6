"""Console sign-ins: one-time links, OIDC logins in progress and signed-in sessions.

Each is a random secret the browser holds (in a URL once, or in a cookie)
and the store keeps only as its SHA-256 (``ConsoleSession``), as viewer links
are kept. A link (``broker console-link``) works once, within
``LINK_LIFETIME``; a login (the OIDC state, nonce and PKCE verifier, between
the redirect to the IdP and its answer) works once, within
``LOGIN_LIFETIME``; a session lives until the absolute timeout, and only
while used within the idle timeout. The principal is read back from the
record and checked like a token's, so a record cannot name a role or org the
API would refuse.

Every sign-in, sign-out and refused sign-in is an audit event
(``console.signed_in``, ``.signed_out``, ``.signin_refused``): a customer
admin's in their org's region, everyone else's in the broker's first region
(where the API's own authentication failures go).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from broker.auth.principal import Principal, check_principal
from broker.config.console import ConsoleSettings
from broker.errors import ConflictError, NotFoundError
from broker.models import ConsoleSession
from broker.service.context import Context
from broker.typing import ConsoleKind, Region, TokenDigest
from broker.viewer.tokens import new_token, token_digest, well_formed

LINK_LIFETIME = timedelta(seconds=60)
LOGIN_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A signed-in browser: who, the cookie's secret (CSRF tokens derive from it) and its record."""

    principal: Principal
    secret: str
    record: ConsoleSession


class ConsoleSignins:
    """Issues and checks the console's secrets over the store."""

    def __init__(self, ctx: Context, settings: ConsoleSettings) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.clock = ctx.clock
        self.settings = settings

    async def issue_link(self, principal: Principal) -> str:
        """A fresh one-time sign-in token for ``principal`` (the URL's secret)."""
        return await self._add("link", principal, LINK_LIFETIME, {"via": "link"})

    async def use_link(self, token: str, source_ip: str) -> SignedIn:
        """Spend the link once and sign its principal in; a refusal is audited."""
        try:
            record = await self._end(token, "link")
        except (NotFoundError, ConflictError) as error:
            self.refused("link", error.code, source_ip)
            raise
        return await self.start(_principal(record), {"via": "link"}, source_ip)

    async def start(self, principal: Principal, data: dict[str, Any], source_ip: str) -> SignedIn:
        """A new signed-in session (``data``: how: ``via``, and the issuer), audited."""
        region = await self._region(principal)
        event = {**_who(principal), "method": data.get("via"), "source_ip": source_ip}
        self.ctx.events.check("console.signed_in", region=region, **event)
        lifetime = timedelta(seconds=self.settings.absolute_timeout_seconds)
        secret = await self._add("session", principal, lifetime, data)
        self.ctx.events.emit("console.signed_in", region=region, **event)
        return await self.resume(secret)

    def refused(self, method: str, reason: str, source_ip: str) -> None:
        """Audit a refused sign-in (by its reason code; nobody is known yet)."""
        event = {"method": method, "reason": reason, "source_ip": source_ip}
        self.ctx.events.emit("console.signin_refused", region=self.ctx.config.regions[0], **event)

    async def resume(self, secret: str) -> SignedIn:
        """The session of a cookie, marked seen now; refused when ended, expired or idle."""
        now = self.clock.now()
        idle_since = now - timedelta(seconds=self.settings.idle_timeout_seconds)
        record = await self.store.touch_console_session(_digest(secret), "session", now, idle_since)
        return SignedIn(_principal(record), secret, record)

    async def sign_out(self, signed: SignedIn, source_ip: str) -> None:
        """End the session now (its cookie is worthless from here on), audited."""
        region = await self._region(signed.principal)
        event = {**_who(signed.principal), "reason": "signed_out", "source_ip": source_ip}
        self.ctx.events.check("console.signed_out", region=region, **event)
        await self._end(signed.secret, "session")
        self.ctx.events.emit("console.signed_out", region=region, **event)

    async def _region(self, principal: Principal) -> Region:
        """Where a principal's console events go: a customer admin's org's region."""
        if principal.org is not None:
            return (await self.store.get_org(principal.org)).region
        return self.ctx.config.regions[0]

    async def begin_login(self, data: dict[str, Any]) -> str:
        """Keep an OIDC login's state until the IdP answers; the secret goes in a cookie."""
        return await self._add("login", None, LOGIN_LIFETIME, data)

    async def finish_login(self, secret: str) -> dict[str, Any]:
        """Spend the login once; its data back."""
        data: dict[str, Any] = json.loads((await self._end(secret, "login")).data)
        return data

    async def _add(
        self, kind: ConsoleKind, who: Principal | None, lifetime: timedelta, data: dict[str, Any]
    ) -> str:
        secret, digest = new_token()
        now = self.clock.now()
        record = ConsoleSession(
            digest=digest,
            kind=kind,
            subject=who.subject if who else "",
            role=who.role if who else "",
            org=who.org if who else None,
            created_at=now,
            expires_at=now + lifetime,
            last_seen_at=now,
            data=json.dumps(data, separators=(",", ":")),
        )
        await self.store.add_console_session(record)
        return secret

    async def _end(self, secret: str, kind: ConsoleKind) -> ConsoleSession:
        return await self.store.end_console_session(_digest(secret), kind, self.clock.now())


def _principal(record: ConsoleSession) -> Principal:
    return check_principal(record.subject, record.role, record.org)


def _digest(secret: str) -> TokenDigest:
    """The store's key of a secret from a browser; a malformed one is simply unknown."""
    if not well_formed(secret):
        raise NotFoundError("console_session_unknown", "unknown console session")
    return token_digest(secret)


def _who(principal: Principal) -> dict[str, Any]:
    return {"actor": principal.subject, "role": principal.role, "org_id": principal.org}
