"""The asyncssh client leg: from the gateway to the target host.

Local mode: host, port, user and host key come from the inventory's
``Target``; the gateway logs in with its own client key. AES-GCM first,
compression off, no agent, no X11, no ``~/.ssh/config``; asyncssh sets
TCP_NODELAY on every TCP connection it makes.

Target output passes the session's ``OutputFilter`` before anything else
sees it, and the recorder gets the filtered stream: a replay must not
re-send what the filter removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import asyncssh

from broker.egress.blocked import Blocked
from broker.errors import BrokerError
from broker.gateway.context import GatewayContext, log
from broker.gateway.hooks import OutputFilter, Recorder
from broker.gateway.ports import FrontEnd
from broker.gateway.settings import FAST_CIPHERS
from broker.gateway.upstream import RelayRefused, Upstream
from broker.models import Session

TermSize = tuple[int, int, int, int]
Env = dict[bytes | str, bytes | str]
EARLY_INPUT_MAX = 64 * 1024


class SessionPort(Protocol):
    """What a relay needs of the live session it serves."""

    @property
    def ctx(self) -> GatewayContext:
        """The gateway's shared dependencies (store, clock, hooks, settings)."""
        ...

    @property
    def session(self) -> Session:
        """The session relayed."""
        ...

    @property
    def severed(self) -> str | None:
        """Set (to the reason) once the session is cut: relay nothing more."""
        ...

    def touch_out(self, count: int) -> None:
        """``count`` bytes went to the engineer."""
        ...

    def emit(self, event: str, **fields: object) -> None:
        """An event about this session (its ids and region added)."""
        ...

    def shell_exited(self) -> None:
        """The target shell ended: that is the reason, unless one is set already."""
        ...

    async def terminate(self, reason: str) -> None:
        """Cut the session, first telling the engineer why."""
        ...


def announce_stored(port: SessionPort, recorder: Recorder) -> None:
    """``recording.stored`` for a recording kept in the region's folder."""
    if recorder.path is None or recorder.failed is not None:
        return
    port.emit(
        "recording.stored",
        location=f"regions/{port.ctx.region}/recordings/{recorder.path.name}",
        bytes=recorder.bytes_written,
        sha256=recorder.sha256,
    )


class TargetSession(asyncssh.SSHClientSession[bytes]):
    """Receives the target shell's output and exit."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        """Output (stdout and stderr are one stream on a PTY)."""
        self.relay.output(data)

    def exit_status_received(self, status: int) -> None:
        """Remember the exit status for the engineer."""
        self.relay.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        """Remember the signal that ended the shell."""
        self.relay.exit_signal = (signal, core_dumped, msg, lang)

    def pause_writing(self) -> None:
        """The target is slow to take input: stop reading keystrokes."""
        self.relay.chan.pause_reading()

    def resume_writing(self) -> None:
        """The target takes input again."""
        self.relay.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        """The target shell is gone: pass its exit on to the engineer."""
        self.relay.target_closed()


class Relay:
    """Connects one engineer front end (SSH channel or viewer) to one target shell."""

    def __init__(self, link: SessionPort, chan: FrontEnd) -> None:
        self.link = link
        self.chan = chan
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str, str] | None = None
        self._filter: OutputFilter | None = None
        self._recorder: Recorder | None = None
        self._conn: asyncssh.SSHClientConnection | None = None
        self._tchan: asyncssh.SSHClientChannel[bytes] | None = None
        self._closed = False
        self._early = bytearray()
        self._early_size: TermSize | None = None
        self._out: list[bytes] = []

    @property
    def connection(self) -> asyncssh.SSHClientConnection | None:
        """The client connection to the target, once up."""
        return self._conn

    async def run(self, term_type: str, term_size: TermSize, env: Env) -> None:
        """Open the target shell, or cut the engineer's session with the reason."""
        try:
            await self._open(term_type, term_size, env)
        except RelayRefused as refused:
            if self._closed:
                return  # the engineer's side went first (cut, hung up): its end says why
            log.warning("relay.refused", region=self.link.session.region,
                        session_id=self.link.session.id, detail=refused.detail)  # fmt: skip
            self.link.emit(
                "relay.failed",
                reason=refused.reason,
                detail=refused.detail,
            )
            await self.link.terminate(refused.reason)
            return
        if self._closed:
            self.close()
            return
        early, self._early = bytes(self._early), bytearray()
        if early:
            self.send(early)
        if self._early_size is not None and self._tchan is not None:
            self._tchan.change_terminal_size(*self._early_size)
        self.chan.resume_reading()

    async def _open(self, term_type: str, term_size: TermSize, env: Env) -> None:
        """Start the recorder, check the session is still live, connect."""
        # Recording starts first: a session cut before its shell is up (revoked
        # meanwhile, target down) still leaves a recording saying why.
        await self._start_hooks(term_type, term_size)
        await self._recheck()
        upstream = await self.link.ctx.upstream.resolve(self.link.session, self.link.ctx.region)
        self._conn = await self._connect(upstream)
        self._tchan = await self._shell(self._conn, term_type, term_size, env)

    async def _shell(
        self, conn: asyncssh.SSHClientConnection, term_type: str, term_size: TermSize, env: Env
    ) -> asyncssh.SSHClientChannel[bytes]:
        """The target's PTY shell; a refused PTY or shell, or a closed leg, is a refusal."""
        try:
            chan, _ = await conn.create_session(
                lambda: TargetSession(self),
                term_type=term_type,
                term_size=term_size,
                env=env,
                request_pty="force",
                encoding=None,
            )
        except (asyncssh.Error, OSError) as error:
            raise RelayRefused("target_unreachable", type(error).__name__) from error
        except AttributeError as error:
            # asyncssh 2.24.1 dereferences the channel's session after its
            # shell request returns, even if the channel was closed meanwhile:
            # as it is when the engineer leaves and ``close`` ends this leg.
            if not self._closed:
                raise
            raise RelayRefused("target_unreachable", "closed while opening") from error
        return chan

    async def _recheck(self) -> None:
        """Re-read the session after the link is registered.

        The watcher only sees changes after registration; this read closes
        the gap between the store's ``mark_connected`` and that moment.
        """
        ctx = self.link.ctx
        try:
            session = await ctx.store.get_session(self.link.session.id)
        except BrokerError as error:
            raise RelayRefused("store_unavailable", error.code) from error
        if not session.live_at(ctx.clock.now()):
            reason = "expired" if session.state in ("issued", "connected") else session.state
            raise RelayRefused(reason, f"session is {session.state}")

    async def _start_hooks(self, term_type: str, term_size: TermSize) -> None:
        """Build the session's filter and recorder; failing to record is fatal."""
        ctx = self.link.ctx
        self._filter = ctx.filters(self.link.session)
        try:
            org = await ctx.store.get_org(self.link.session.org_id)
            recorder = ctx.recorders(self.link.session)
            recorder.start(term_type, term_size[0], term_size[1], record_input=org.record_input)
        except (OSError, BrokerError) as error:
            # The region's storage away is worth naming: the engineer can do nothing else.
            storage = getattr(error, "code", None) == "recordings_unreachable"
            reason = "recordings_unreachable" if storage else "recording_unavailable"
            raise RelayRefused(reason, type(error).__name__) from error
        # A disk that fills mid-session cuts the session: no unrecorded access.
        recorder.on_failure = lambda _e: ctx.spawn(self.link.terminate("recording_unavailable"))
        self._recorder = recorder

    def close_recording(self, reason: str) -> None:
        """Flush what the filter held, then close the recording with ``reason``."""
        self._drain_output()
        if self._filter is not None:
            self._pass(*self._filter.flush())
        if self._recorder is not None:
            self._recorder.close(reason)
            announce_stored(self.link, self._recorder)

    @property
    def recording(self) -> bool:
        """Whether this relay's recording has started (the shell was asked for)."""
        return self._recorder is not None

    async def _connect(self, upstream: Upstream) -> asyncssh.SSHClientConnection:
        """Log in to the target with the upstream's key, its host key pinned."""
        settings = self.link.ctx.settings
        try:
            return await asyncio.wait_for(
                asyncssh.connect(
                    upstream.host,
                    upstream.port,
                    username=upstream.user,
                    client_keys=[upstream.client_key],
                    known_hosts=([upstream.host_key], [], []),
                    config=None,
                    agent_path=None,
                    agent_forwarding=False,
                    x11_forwarding=False,
                    preferred_auth="publickey",
                    encryption_algs=list(FAST_CIPHERS),
                    compression_algs=["none"],
                    login_timeout=settings.connect_timeout,
                ),
                settings.connect_timeout,
            )
        except asyncssh.PermissionDenied as error:
            raise RelayRefused("target_refused", "authentication refused") from error
        except (OSError, TimeoutError, asyncssh.Error, ValueError) as error:
            raise RelayRefused("target_unreachable", type(error).__name__) from error

    # -- data paths ------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Engineer -> target; nothing once the link is severed."""
        if self.link.severed:
            return
        if self._tchan is None:
            self._hold(data)
            return
        if self._recorder is not None:
            self._recorder.input(data)
        self._tchan.write(data)

    def _hold(self, data: bytes) -> None:
        """Keep typeahead sent before the target shell is up (bounded)."""
        room = EARLY_INPUT_MAX - len(self._early)
        if len(data) > room:
            log.warning("relay.early_input_dropped", region=self.link.session.region,
                        session_id=self.link.session.id)  # fmt: skip
        self._early += data[: max(room, 0)]

    def output(self, data: bytes) -> None:
        """Target -> engineer: gathered for this loop turn, then filtered and sent.

        One read from the target's socket often holds several small SSH
        packets (a PTY yields ~4 KiB at a time); sending them on as one write
        lets the engineer leg use full-size packets. The flush runs in the same
        loop turn, so keystroke echo waits for nothing.
        """
        if not self._out:
            asyncio.get_running_loop().call_soon(self._drain_output)
        self._out.append(data)

    def _drain_output(self) -> None:
        """Filter and pass everything gathered since the last turn."""
        if not self._out or self._filter is None:
            return
        data = b"".join(self._out)
        self._out.clear()
        self._pass(*self._filter.feed(data))

    def _pass(self, passed: bytes, blocked: Sequence[Blocked]) -> None:
        """Record and audit each block, then send what passed to the engineer.

        Nothing passes, or is recorded as passed, once the link is severed.
        """
        assert self._recorder is not None
        if self.link.severed:
            return
        for found in blocked:
            self._recorder.marker(found.marker())
            self.link.emit("egress.blocked", kind=str(found.kind))
        if not passed:
            return
        self._recorder.output(passed)
        self.link.touch_out(len(passed))
        if not self.chan.is_closing():
            self.chan.write(passed)

    def resize(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        """Relay a window change."""
        if self._recorder is not None:
            self._recorder.resize(width, height)
        if self._tchan is not None:
            self._tchan.change_terminal_size(width, height, pixwidth, pixheight)
        else:  # the shell is still opening at the old size: apply this once it is up
            self._early_size = (width, height, pixwidth, pixheight)

    def signal(self, signal: str) -> None:
        """Relay a signal."""
        if self._tchan is not None:
            self._tchan.send_signal(signal)

    def send_break(self, msec: int) -> bool:
        """Relay a break."""
        if self._tchan is None:
            return False
        self._tchan.send_break(msec)
        return True

    def pause_target(self) -> None:
        """Stop reading target output (the engineer is behind)."""
        if self._tchan is not None:
            self._tchan.pause_reading()

    def resume_target(self) -> None:
        """Read target output again."""
        if self._tchan is not None:
            self._tchan.resume_reading()

    # -- endings ---------------------------------------------------------
    def target_closed(self) -> None:
        """Pass the shell's exit to the engineer and close the target leg."""
        self.link.shell_exited()
        self._drain_output()  # the shell's last words go out before its exit status
        if self.chan.is_closing():
            pass
        elif self.exit_signal is not None:
            self.chan.exit_with_signal(*self.exit_signal)
        elif self.exit_status is not None:
            self.chan.exit(self.exit_status)
        else:
            self.chan.close()
        self.close()

    def close(self) -> None:
        """Close the target connection (idempotent)."""
        self._closed = True
        if self._conn is not None:
            self._conn.close()
