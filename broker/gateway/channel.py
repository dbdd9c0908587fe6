"""The session-channel policy: a PTY shell and nothing else.

Allowed: ``pty-req`` then ``shell``, window changes, signals, breaks.
Refused, each with an ``egress.blocked`` event: ``exec`` (also ``scp``,
``rsync``, ``ssh host cmd``), every subsystem (``sftp``), a shell without a
PTY, and ``env`` other than TERM, LANG and LC_* (dropped, not forwarded).
Agent and X11 requests are refused by the connection (``intercept``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import asyncssh

from broker.gateway.context import log
from broker.gateway.link import Link, SshEndpoint
from broker.gateway.relay import Relay

Denied = Callable[..., None]
TermSize = tuple[int, int, int, int]
_MAX_ENV_NAME = 64


def env_allowed(name: str) -> bool:
    """TERM, LANG and LC_* pass to the target; anything else is dropped."""
    if name in ("TERM", "LANG"):
        return True
    return name.startswith("LC_") and len(name) <= _MAX_ENV_NAME and name.isascii()


def split_env(env: Mapping[str, str]) -> tuple[dict[bytes | str, bytes | str], list[str]]:
    """Allowed variables and the names (never values) of the refused ones."""
    allowed: dict[bytes | str, bytes | str] = {}
    refused: list[str] = []
    for key, value in env.items():
        if env_allowed(key):
            allowed[key] = value
        else:
            refused.append(key[:_MAX_ENV_NAME])
    return allowed, refused


class PolicySession(asyncssh.SSHServerSession[bytes]):
    """The engineer's one session channel."""

    def __init__(self, link: Link[SshEndpoint], denied: Denied) -> None:
        self.link = link
        self._denied = denied
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._pty: tuple[str, TermSize] | None = None
        self._relay: Relay | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        """Remember the channel; the link shows its why-line there."""
        self._chan = chan
        self.link.endpoint.channel = chan

    def pty_requested(self, term_type: str, term_size: TermSize, term_modes: object) -> bool:
        """Accept a PTY of plausible size."""
        if not self.link.ctx.settings.term_size_ok(*term_size):
            self._malformed("pty size")
            return False
        self._pty = (term_type, term_size)
        return True

    def shell_requested(self) -> bool:
        """A shell only on a PTY."""
        if self._pty is None:
            self._denied("shell-without-pty")
            return False
        assert self._chan is not None
        # Keystrokes may arrive before the target is up: hold them from here on.
        self._chan.pause_reading()
        self._relay = Relay(self.link, self._chan)
        self.link.relay = self._relay
        return True

    def exec_requested(self, command: str) -> bool:
        """Never: this also stops scp, rsync and ``ssh host cmd``."""
        self._denied("exec")
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        """Never: no sftp, no other subsystem."""
        self._denied("subsystem", subsystem[:64])
        return False

    def session_started(self) -> None:
        """Start relaying the shell to the target (input waits until it is up)."""
        assert self._chan is not None
        assert self._pty is not None
        assert self._relay is not None
        self.link.shell_started = True
        env, refused = split_env(self._chan.get_environment())
        for name in refused:
            self._denied("env", name)
        term_type, term_size = self._pty
        self.link.ctx.spawn(self._relay.run(term_type, term_size, env))

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        """Keystrokes go to the target."""
        self.link.touch_in(len(data))
        if self._relay is not None:
            self._relay.send(data)

    def eof_received(self) -> bool:
        """Keep the channel open: a PTY shell ends with its own exit, not EOF."""
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        """Relay a plausible resize; an absurd one is treated as an attack."""
        if not self.link.ctx.settings.term_size_ok(width, height, pixwidth, pixheight):
            self._malformed("window change")
        elif self._relay is not None:
            self._relay.resize(width, height, pixwidth, pixheight)

    def signal_received(self, signal: str) -> None:
        """Relay a signal to the target shell."""
        if self._relay is not None:
            self._relay.signal(signal)

    def break_received(self, msec: int) -> bool:
        """Relay a break."""
        return self._relay is not None and self._relay.send_break(msec)

    def pause_writing(self) -> None:
        """The engineer is slow: stop reading the target."""
        if self._relay is not None:
            self._relay.pause_target()

    def resume_writing(self) -> None:
        """The engineer caught up."""
        if self._relay is not None:
            self._relay.resume_target()

    def connection_lost(self, exc: Exception | None) -> None:
        """The engineer's channel is gone: close the target leg."""
        if self._relay is not None:
            self._relay.close()

    def _malformed(self, what: str) -> None:
        """Drop this one connection, with a log line; the gateway serves on."""
        log.warning("gateway.malformed_request", region=self.link.session.region,
                    source_ip=self.link.source_ip, request=what)  # fmt: skip
        asyncio.get_running_loop().call_soon(self.link.abort, "malformed_request")
