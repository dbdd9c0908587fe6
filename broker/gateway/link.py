"""One live engineer connection bound to one session, whichever way it came in.

The link counts bytes and activity, tells the engineer why before the
gateway cuts a session, and on close writes the session's end to the store
and the ``session.closed`` event, exactly once. The connection itself is an
``Endpoint``: ``SshEndpoint`` here for the SSH path, the viewer's own for the
browser. The relay sees the link only as its ``SessionPort``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import datetime
from typing import Generic, TypeVar

import asyncssh

from broker.errors import BrokerError, ConflictError
from broker.gateway.context import GatewayContext, log
from broker.gateway.ports import Endpoint
from broker.gateway.relay import Relay, announce_stored
from broker.models import Session
from broker.recording.castfile import DEFAULT_SIZE
from broker.typing import SessionState

E = TypeVar("E", bound=Endpoint)

WHY: dict[str, str] = {
    "expired": "the session has expired",
    "revoked": "the session was revoked",
    "closed": "the session was closed",
    "idle_timeout": "the session was idle for too long",
    "store_unavailable": "the gateway cannot confirm the session is still valid",
    "gateway_stopping": "the gateway is shutting down",
    "no_session_channel": "no terminal was requested",
    "target_unreachable": "the target host cannot be reached",
    "target_refused": "the target host refused the gateway",
    "recording_unavailable": "the session cannot be recorded",
    "recordings_unreachable": "the region's recording storage cannot be reached",
    "audit_unavailable": "the session cannot be audited",
    "malformed_request": "the client sent a malformed request",
}
"""Reason code -> the line the engineer sees. Codes are what events record."""

END_STATE: dict[str, SessionState] = {"expired": "expired", "revoked": "revoked"}
CLOSE_WAIT = 0.5
"""Seconds a cut client gets to answer the channel close before the TCP
connection is dropped. The why-line and the close are already sent; waiting
longer only lets a hung or overloaded client hold a revoked connection open.
With the watcher's poll it keeps revocation-to-TCP-close under the 1 s goal:
at 2 s, a soak under full load saw a revoked session close 2.1 s late."""
NO_TERMINAL = "none"
"""The terminal type recorded for a connection that never opened one."""


def why_line(reason: str) -> bytes:
    """The one line shown to the engineer before the connection closes."""
    text = WHY.get(reason, reason.replace("_", " "))
    return f"\r\n[gateway] connection closed: {text}.\r\n".encode()


class SshEndpoint:
    """The SSH connection of a link; its channel is set once the engineer opens one."""

    def __init__(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.channel: asyncssh.SSHServerChannel[bytes] | None = None
        # Taken on the loop; the watcher's thread may shut it down, never close it.
        self._socket = conn.get_extra_info("socket")

    def say(self, reason: str) -> None:
        """Show the why-line on the engineer's terminal, if there is one."""
        if self.channel is not None and not self.channel.is_closing():
            self.channel.write(why_line(reason))

    async def close(self) -> None:
        """Close the channel, give the client ``CLOSE_WAIT`` to answer, then the connection."""
        channel = self.channel
        if channel is not None:
            channel.close()
            try:
                await asyncio.wait_for(channel.wait_closed(), CLOSE_WAIT)
            except TimeoutError:
                log.info("gateway.channel_left_open")  # just after gateway.cut, which names all
        self.conn.close()

    def abort(self) -> None:
        """Drop the connection at once."""
        self.conn.abort()

    def shut_down(self) -> None:
        """End the TCP connection from any thread; the descriptor stays the loop's.

        The backstop when the loop is too busy to close a cut connection in
        time: the engineer's client sees its connection end at once, and the
        loop cleans up when it gets there (``shutdown`` frees nothing it owns).
        """
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)


class Link(Generic[E]):
    """An authenticated connection for ``session`` and its bookkeeping."""

    def __init__(
        self,
        ctx: GatewayContext,
        session: Session,
        endpoint: E,
        source_ip: str,
        serial: int,
    ) -> None:
        self.ctx = ctx
        self.session = session
        self.endpoint = endpoint
        self.source_ip = source_ip
        self.serial = serial
        self.started = ctx.clock.now()
        # Deadlines on the monotonic clock too: a wall clock stepped back stretches neither.
        self.last_activity = ctx.clock.monotonic()
        remaining = (session.valid_before - self.started).total_seconds()
        self.expires_monotonic = self.last_activity + max(remaining, 0.0)
        self.bytes_in = 0
        self.bytes_out = 0
        self.reason: str | None = None
        self.shell_started = False
        self.relay: Relay | None = None
        self.severed: str | None = None
        self.attached = True
        """False while a viewer's engineer is away: output then is not activity."""
        self._finished = False

    def emit(self, event: str, **fields: object) -> None:
        """An event about this session, with its ids."""
        self.ctx.emit(event, **self.session.ids(), **fields)

    def shell_exited(self) -> None:
        """The target shell ended; an earlier reason (a cut) stands."""
        if self.reason is None:
            self.reason = "shell_exited"

    def touch_in(self, count: int) -> None:
        """The engineer sent ``count`` bytes."""
        self.bytes_in += count
        self.last_activity = self.ctx.clock.monotonic()

    def touch_out(self, count: int) -> None:
        """``count`` bytes went to the engineer."""
        self.bytes_out += count
        if self.attached:
            self.last_activity = self.ctx.clock.monotonic()

    def idle_for(self) -> float:
        """Seconds without traffic in either direction (monotonic: clock steps do not count)."""
        return self.ctx.clock.monotonic() - self.last_activity

    def expired(self, now: datetime) -> bool:
        """Past ``valid_before`` by the wall clock, or by the time that really passed."""
        return now >= self.session.valid_before or (
            self.ctx.clock.monotonic() >= self.expires_monotonic
        )

    def sever(self, reason: str) -> None:
        """Stop relaying at once, for ``reason``: the relay drops data both ways.

        Safe from any thread (one attribute write), so the watcher's thread
        stops a revoked session however far behind the gateway's loop is;
        ``terminate``, on the loop, then tells the engineer why and closes.
        """
        self.severed = reason

    def shut_down(self) -> None:
        """End the engineer's transport from any thread (the watcher's backstop)."""
        self.endpoint.shut_down()

    def say(self, reason: str) -> None:
        """Tell the engineer why the session ends."""
        self.endpoint.say(reason)

    async def terminate(self, reason: str) -> None:
        """Cut the connection, first telling the engineer why. Idempotent."""
        if self.reason is not None:
            return
        self.reason = reason
        log.info(
            "gateway.cut", region=self.session.region, session_id=self.session.id, reason=reason
        )
        self.say(reason)
        await self.endpoint.close()

    def abort(self, reason: str) -> None:
        """Drop the connection at once (protocol abuse): no why-line, no wait."""
        if self.reason is None:
            self.reason = reason
        self.endpoint.abort()

    async def finish(self) -> None:
        """Record the end of the connection: store first, then the event. Once."""
        if self._finished:
            return
        self._finished = True
        now = self.ctx.clock.now()
        reason = self.reason or self.severed or "client_closed"
        if self.relay is not None and self.relay.recording:
            self.relay.close_recording(reason)
        else:
            self._record_without_terminal(reason)
        await self._end_in_store(reason, now)
        self.emit(
            "session.closed",
            reason=reason,
            duration_s=round((now - self.started).total_seconds()),
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
        )

    def _record_without_terminal(self, reason: str) -> None:
        """Connected, but cut before a terminal opened: a recording saying why.

        So every connected session has a recording, and the evidence shows
        the connections that never reached a shell as well.
        """
        try:
            recorder = self.ctx.recorders(self.session)
            recorder.start(NO_TERMINAL, *DEFAULT_SIZE, record_input=False)
            recorder.close(reason)
        except (OSError, BrokerError) as error:
            log.warning("recording.not_started", region=self.session.region,
                        session_id=self.session.id, error=type(error).__name__)  # fmt: skip
            return
        announce_stored(self, recorder)

    async def _end_in_store(self, reason: str, now: datetime) -> None:
        """End the session in the store; an already-ended session keeps its answer."""
        state = END_STATE.get(reason, "closed")
        try:
            await self.ctx.store.end_session(self.session.id, state, reason, now)
        except ConflictError:
            pass
        except BrokerError as error:
            log.warning("session.end_not_stored", region=self.session.region,
                        session_id=self.session.id, code=error.code)  # fmt: skip
