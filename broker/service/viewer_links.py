"""Single-use links into view sessions: issued with the session, and on resume.

A link is the region's viewer URL with a fresh token in its fragment. The
store keeps the token's digest, bound to the session and its region, for
``TOKEN_LIFETIME_SECONDS``; the viewer claims it once. ``resume`` gives the
session's own engineer a fresh link to the same live session (a reload or a
dropped connection), for as long as the session is live: the gateway ends a
session whose viewer stays away past the idle bound, and then resume is
refused. Every link issued and every refusal is an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.auth.principal import Principal
from broker.errors import BrokerError, ConflictError, ForbiddenError, UnavailableError
from broker.models import Session, ViewerToken
from broker.service.authz import require_role
from broker.service.context import Context
from broker.typing import SessionId, StaffId
from broker.viewer.tokens import TOKEN_LIFETIME_SECONDS, new_token, viewer_link


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
        self, session: Session, reason: str, *, actor: str, source_ip: str
    ) -> ViewerLink:
        """A fresh link to ``session`` at its region's viewer; fails closed without one."""
        address = self.ctx.gateway_for(session.region)
        if address is None or address.viewer is None:
            raise UnavailableError("viewer_unavailable", "the region runs no viewer")
        token, digest = new_token()
        now = self.ctx.clock.now()
        expires = now + timedelta(seconds=TOKEN_LIFETIME_SECONDS)
        record = ViewerToken(digest, session.id, session.region, session.staff_id, now, expires)
        await self.ctx.store.add_viewer_token(record)
        self._emit("viewer.link_issued", session, reason, actor, source_ip, expires_at=expires)
        return ViewerLink(session, viewer_link(address.viewer, token), expires)

    async def resume(
        self, principal: Principal, session_id: SessionId, source_ip: str
    ) -> ViewerLink:
        """A fresh link to the engineer's own live session; refusals audited."""
        require_role(principal, "engineer")
        session = await self.ctx.store.get_session(session_id)
        try:
            self._check_resumable(principal, session)
        except BrokerError as error:
            self._emit("viewer.refused", session, error.code, principal.subject, source_ip)
            raise
        return await self.issue(session, "resume", actor=principal.subject, source_ip=source_ip)

    def _check_resumable(self, principal: Principal, session: Session) -> None:
        """Own session, a view session, and still live (the gateway ends one idle too long)."""
        if StaffId(principal.subject) != session.staff_id:
            raise ForbiddenError("staff_forbidden", "not your session", session_id=session.id)
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
