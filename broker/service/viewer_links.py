"""Single-use links into view sessions: issued with the session, and on resume.

A link is the region's viewer URL with a fresh token in its fragment. The
store keeps the token's digest, bound to the session and its region, for
``TOKEN_LIFETIME_SECONDS``; the viewer claims it once. ``resume`` gives the
session's own engineer a fresh link to the same live session (a reload or a
dropped connection), for as long as the session is live: the gateway ends a
session whose viewer stays away past the idle bound, and then resume is
refused. ``watch`` gives ops, or a customer admin of the ticket's org, a
link of the same kind (single use, 60 s, digest only, bound to the session
and its region) whose holder is ``watch:<role>:<subject>``: the viewer shows that
page the session read-only and names the watcher on the engineer's screen.
A customer admin of another org is told the session does not exist (404).
Every link issued and every refusal is an audit event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.auth.principal import Principal
from broker.errors import (
    BrokerError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
)
from broker.models import Session, ViewerToken
from broker.service.authz import require_role
from broker.service.context import Context
from broker.typing import SessionId, StaffId
from broker.viewer.tokens import (
    TOKEN_LIFETIME_SECONDS,
    new_token,
    replay_holder,
    viewer_link,
    watch_holder,
)


@dataclass(frozen=True, slots=True)
class ViewerLink:
    """A link to open in the browser, and when it stops working if unused."""

    session: Session
    url: str
    expires_at: datetime


class ViewerLinks:
    """Issues viewer links (use cases ``issue`` and ``resume``)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def issue(
        self,
        session: Session,
        reason: str,
        *,
        actor: str,
        source_ip: str,
        holder: str | None = None,
    ) -> ViewerLink:
        """A fresh link to ``session`` at its region's viewer; fails closed without one.

        ``holder`` defaults to the session's engineer; a watcher's is ``watch:<id>``."""
        address = self.ctx.gateway_for(session.region)
        if address is None or address.viewer is None:
            raise UnavailableError("viewer_unavailable", "the region runs no viewer")
        token, digest = new_token()
        now = self.ctx.clock.now()
        expires = now + timedelta(seconds=TOKEN_LIFETIME_SECONDS)
        owner = StaffId(holder) if holder is not None else session.staff_id
        record = ViewerToken(digest, session.id, session.region, owner, now, expires)
        await self.ctx.store.add_viewer_token(record)
        self._emit("viewer.link_issued", session, reason, actor, source_ip, expires_at=expires)
        return ViewerLink(session, viewer_link(address.viewer, token), expires)

    async def resume(
        self, principal: Principal, session_id: SessionId, source_ip: str
    ) -> ViewerLink:
        """A fresh link to the engineer's own live session; refusals audited."""
        require_role(principal, "engineer")
        session = await self.ctx.store.get_session(session_id)
        with self._refusals_audited(session, principal.subject, source_ip):
            self._check_resumable(principal, session)
        return await self.issue(session, "resume", actor=principal.subject, source_ip=source_ip)

    async def replay(
        self, principal: Principal, session_id: SessionId, source_ip: str
    ) -> ViewerLink:
        """A link that replays the session's recording in its region's viewer, as pixels."""
        session = await self._visible(principal, session_id, source_ip)
        return await self._onlooker_link(principal, session, "replay", source_ip)

    async def _onlooker_link(
        self, principal: Principal, session: Session, reason: str, source_ip: str
    ) -> ViewerLink:
        """A watch or replay link held by ``principal`` (never the engineer's own kind)."""
        holder = replay_holder if reason == "replay" else watch_holder
        return await self.issue(
            session,
            reason,
            actor=principal.subject,
            source_ip=source_ip,
            holder=holder(principal.role, principal.subject),
        )

    async def _visible(
        self, principal: Principal, session_id: SessionId, source_ip: str
    ) -> Session:
        """The session, for ops or its ticket org's customer admin (another org's: 404)."""
        require_role(principal, "ops", "customer_admin")
        session = await self.ctx.store.get_session(session_id)
        if principal.role == "customer_admin" and principal.org != session.org_id:
            self._emit("viewer.refused", session, "org_forbidden", principal.subject, source_ip)
            raise NotFoundError("session_not_found", "unknown session", session_id=session_id)
        return session

    async def watch(
        self, principal: Principal, session_id: SessionId, source_ip: str
    ) -> ViewerLink:
        """A read-only link to a live view session, for ops or the ticket org's admin."""
        session = await self._visible(principal, session_id, source_ip)
        with self._refusals_audited(session, principal.subject, source_ip):
            self._check_live_view(session)
        return await self._onlooker_link(principal, session, "watch", source_ip)

    @contextmanager
    def _refusals_audited(self, session: Session, actor: str, source_ip: str) -> Iterator[None]:
        """A refusal raised inside is audited as ``viewer.refused``, then raised on."""
        try:
            yield
        except BrokerError as error:
            self._emit("viewer.refused", session, error.code, actor, source_ip)
            raise

    def _check_resumable(self, principal: Principal, session: Session) -> None:
        """Own session, a view session, and still live (the gateway ends one idle too long)."""
        if StaffId(principal.subject) != session.staff_id:
            raise ForbiddenError("staff_forbidden", "not your session", session_id=session.id)
        self._check_live_view(session)

    def _check_live_view(self, session: Session) -> None:
        """A view session that is still live."""
        if session.access != "view":
            raise ConflictError(
                "not_a_view_session", "a terminal session has no viewer", session_id=session.id
            )
        if not session.live_at(self.ctx.clock.now()):
            raise ConflictError(
                "session_not_live", "the session has ended; open a new one", session_id=session.id
            )

    def _emit(
        self, event: str, session: Session, reason: str, actor: str, source_ip: str, **more: object
    ) -> None:
        self.ctx.events.emit(
            event,
            region=session.region,
            **session.ids(),
            reason=reason,
            actor=actor,
            source_ip=source_ip,
            **more,
        )
