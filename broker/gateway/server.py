"""The per-connection asyncssh server: certificate login and forwarding denials.

One ``GatewayServer`` exists per TCP connection. Login is by certificate only:
signed by this region's CA, principal equal to the login name (the session
id), and the session issued, of this region and unexpired. The final check is
the store's atomic ``issued -> connected`` step, so a certificate opens at
most one connection. Every forwarding request is refused; its
``egress.blocked`` event comes from ``intercept``, which sees the request
even when asyncssh refuses it before asking these hooks.
"""

from __future__ import annotations

import asyncio

import asyncssh

from broker.errors import BrokerError, ConflictError, NotFoundError
from broker.gateway import intercept
from broker.gateway.certs import (
    VIEW_ONLY,
    CertInfo,
    check_certificate,
    check_session,
    parse_certificate,
)
from broker.gateway.channel import PolicySession
from broker.gateway.context import GatewayContext, log
from broker.gateway.link import Link, SshEndpoint
from broker.models import Session
from broker.typing import SessionId

PROHIBITED = "forwarding is disabled on this gateway"
VIEW_ONLY_BANNER = (
    "[gateway] this session is view-only: open it in the browser viewer"
    " (broker session resume {session_id})\r\n"
)
"""The one line a client sees when it tries SSH on a ``view`` session (an auth banner)."""


class GatewayServer(asyncssh.SSHServer):
    """Authentication and channel-open policy of one engineer connection."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self.conn: asyncssh.SSHServerConnection | None = None
        self.source_ip = ""
        self.link: Link[SshEndpoint] | None = None
        self._counted = False
        self._fail_reason: str | None = None
        self._fail_session: SessionId | None = None
        self._checked: tuple[str, CertInfo, Session] | None = None
        self._grace: asyncio.TimerHandle | None = None
        self._sessions_opened = 0

    # -- connection life -------------------------------------------------
    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Admit within the pending-login budget and hook the connection."""
        self.conn = conn
        self.ctx.connections.add(conn)
        peer = conn.get_extra_info("peername")
        self.source_ip = str(peer[0]) if peer else ""
        if not self.ctx.admit(self.source_ip):
            log.warning("gateway.connection_refused", region=self.ctx.region,
                        reason="pending_login_limit")  # fmt: skip
            asyncio.get_running_loop().call_soon(conn.abort)
            return
        self._counted = True
        intercept.install(conn, self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the budget, then record how the connection ended."""
        if self.conn is not None:
            self.ctx.connections.discard(self.conn)
        self._release()
        if self._grace is not None:
            self._grace.cancel()
        if self.link is not None:
            link, self.link = self.link, None
            self.ctx.links.pop(link.session.id, None)
            self.ctx.spawn(link.finish())
        elif self._fail_reason is not None:
            self.ctx.failures.failed(self.source_ip, self._fail_reason, self._fail_session)
        if exc is not None:
            log.info("gateway.connection_ended", region=self.ctx.region,
                     source_ip=self.source_ip, error=str(exc))  # fmt: skip

    def _release(self) -> None:
        """Give back this connection's pending-login slot, once."""
        if self._counted:
            self._counted = False
            self.ctx.release(self.source_ip)

    # -- authentication --------------------------------------------------
    def begin_auth(self, username: str) -> bool:
        """Authentication is always required."""
        return True

    def public_key_auth_supported(self) -> bool:
        """Certificates are the only way in."""
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Plain keys never log in."""
        return False

    def validate_ca_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Trust this region's CA and nothing else."""
        return key.public_data == self.ctx.ca_key.public_data

    async def precheck(self, login: str, blob: bytes) -> bool:
        """Check the certificate and its session; remember why on failure."""
        info = parse_certificate(blob)
        now = self.ctx.clock.now()
        reason = check_certificate(info, login, self.ctx.ca_public, now)
        if reason is None and not self.ctx.audit_ok():
            reason = "audit_unavailable"
        if reason is None and info is not None:
            reason = await self._check_session(login, info)
        if reason is not None:
            self._note_failure(reason)
        return reason is None

    async def _check_session(self, login: str, info: CertInfo) -> str | None:
        """Look the session up and check it may connect here now."""
        try:
            session = await self.ctx.store.get_session(SessionId(login))
        except NotFoundError:
            return "unknown_session"
        except BrokerError:
            return "store_unavailable"
        reason = check_session(session, self.ctx.region, info.serial, self.ctx.clock.now())
        if reason is None:
            self._checked = (login, info, session)
        elif reason == VIEW_ONLY:
            self._refuse_view_only(session)
        return reason

    def _refuse_view_only(self, session: Session) -> None:
        """Tell the client, once, that this session is for the viewer; audit names it.

        The certificate was checked before (signer, principal, window), so the
        session id is not a name an unauthenticated client made up.
        """
        if self._fail_session == session.id or self.conn is None:
            return
        self._fail_session = session.id
        try:
            self.conn.send_auth_banner(VIEW_ONLY_BANNER.format(session_id=session.id))
        except OSError:
            log.info("gateway.banner_not_sent", region=self.ctx.region,
                     reason="auth already complete")  # fmt: skip

    def _note_failure(self, reason: str) -> None:
        """Keep the most telling reason: a plain key tried after a cert says little."""
        if self._fail_reason is None or self._fail_reason == "not_a_certificate":
            self._fail_reason = reason

    async def accepted(self, login: str) -> bool:
        """Claim the session atomically; a second connection loses here."""
        if self._checked is None or self._checked[0] != login or self.conn is None:
            return False
        _, info, session = self._checked
        try:
            session = await self.ctx.claim(session.id, self.ctx.clock.now())
        except ConflictError:
            self._note_failure("session_not_live")
            return False
        except BrokerError:
            self._note_failure("store_unavailable")
            return False
        self._open_link(session, info)
        return True

    def _open_link(self, session: Session, info: CertInfo) -> None:
        """Register the live link (no await between claim and registration)."""
        assert self.conn is not None
        self.link = Link(self.ctx, session, SshEndpoint(self.conn), self.source_ip, info.serial)
        self.ctx.links[session.id] = self.link
        self._fail_reason = None
        self.ctx.emit(
            "session.connected",
            **session.ids(),
            target=session.target,
            cert_serial=info.serial,
            source_ip=self.source_ip,
        )

    def auth_completed(self) -> None:
        """Free the pending slot and start the grace timer for opening a shell."""
        self._release()
        loop = asyncio.get_running_loop()
        self._grace = loop.call_later(self.ctx.settings.channel_grace, self._no_channel)

    def _no_channel(self) -> None:
        """Close a connection that authenticated but started no shell in time."""
        if self.link is not None and not self.link.shell_started:
            self.ctx.spawn(self.link.terminate("no_session_channel"))

    def denied(self, kind: str, detail: str | None = None) -> None:
        """Emit ``egress.blocked`` for a refused request."""
        fields: dict[str, object] = {"kind": kind, "source_ip": self.source_ip}
        if self.link is not None:
            fields.update(self.link.session.ids())
        if detail is not None:
            fields["detail"] = detail
        self.ctx.emit("egress.blocked", **fields)

    # -- channels --------------------------------------------------------
    def session_requested(self) -> PolicySession | bool:
        """One session channel per connection, under the PTY-shell policy."""
        if self.link is None:
            return False
        self._sessions_opened += 1
        if self._sessions_opened > 1:
            self.denied("extra-session")
            return False
        return PolicySession(self.link, self.denied)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        """``direct-tcpip`` (-L, -D, -W, jump host): refused."""
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, PROHIBITED)

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        """``tcpip-forward`` (-R): refused."""
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        """``direct-streamlocal`` (-L to a socket): refused."""
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, PROHIBITED)

    def unix_server_requested(self, listen_path: str) -> bool:
        """``streamlocal-forward`` (-R to a socket): refused."""
        return False

    def tun_requested(self, unit: int | None) -> bool:
        """Layer 2/3 tunnels (-w): refused."""
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, PROHIBITED)
