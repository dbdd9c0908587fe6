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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from broker.auth.principal import Principal, check_principal
from broker.clock import Clock
from broker.config.console import ConsoleSettings
from broker.errors import NotFoundError
from broker.models import ConsoleSession
from broker.store.base import Store
from broker.typing import ConsoleKind, TokenDigest
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

    def __init__(self, store: Store, clock: Clock, settings: ConsoleSettings) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings

    async def issue_link(self, principal: Principal) -> str:
        """A fresh one-time sign-in token for ``principal`` (the URL's secret)."""
        return await self._add("link", principal, LINK_LIFETIME, {"via": "link"})

    async def use_link(self, token: str) -> SignedIn:
        """Spend the link once and sign its principal in."""
        record = await self._end(token, "link")
        return await self.start(_principal(record), {"via": "link"})

    async def start(self, principal: Principal, data: dict[str, Any]) -> SignedIn:
        """A new signed-in session (``data``: how, e.g. the issuer)."""
        lifetime = timedelta(seconds=self.settings.absolute_timeout_seconds)
        secret = await self._add("session", principal, lifetime, data)
        return await self.resume(secret)

    async def resume(self, secret: str) -> SignedIn:
        """The session of a cookie, marked seen now; refused when ended, expired or idle."""
        now = self.clock.now()
        idle_since = now - timedelta(seconds=self.settings.idle_timeout_seconds)
        record = await self.store.touch_console_session(_digest(secret), "session", now, idle_since)
        return SignedIn(_principal(record), secret, record)

    async def sign_out(self, secret: str) -> None:
        """End the session now (its cookie is worthless from here on)."""
        await self._end(secret, "session")

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
