"""The small interfaces that let one live session have either front end.

A session reaches its target through one relay, filter, recorder and watcher
whichever way the engineer came in: an SSH channel (``channel.py``) or the
regional browser viewer (``broker.viewer.live``). These protocols are the
seams between those parts, so none of them imports the others (what a relay
needs of its session, ``SessionPort``, is in ``relay.py``):

- ``FrontEnd``: where the relay writes filtered output and sends the shell's
  exit; an ``asyncssh.SSHServerChannel`` is one as it is.
- ``Endpoint``: the engineer's connection, told why and closed when the
  session is cut.
- ``LiveLink``: what the watcher and the gateway need of every live session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from broker.models import Session


class FrontEnd(Protocol):
    """The engineer's terminal, as the relay sees it."""

    def write(self, data: bytes) -> None:
        """Filtered terminal output for the engineer."""
        ...

    def is_closing(self) -> bool:
        """Whether the engineer's side is going away (write nothing more)."""
        ...

    def pause_reading(self) -> None:
        """Stop taking keystrokes: the target is slow to take input."""
        ...

    def resume_reading(self) -> None:
        """Take keystrokes again."""
        ...

    def exit(self, status: int) -> None:
        """The shell exited with ``status``: pass it on and close."""
        ...

    def exit_with_signal(
        self, signal: str, core_dumped: bool = False, msg: str = "", lang: str = ""
    ) -> None:
        """The shell was killed by ``signal``: pass it on and close."""
        ...

    def close(self) -> None:
        """Close without an exit status."""
        ...


class Endpoint(Protocol):
    """The engineer's connection, whatever carries it."""

    def say(self, reason: str) -> None:
        """Tell the engineer why the session ends (reason code; shown as text)."""
        ...

    async def close(self) -> None:
        """Close politely, within a bound; return once closed or given up."""
        ...

    def abort(self) -> None:
        """Drop the connection at once."""
        ...

    def shut_down(self) -> None:
        """End the transport from any thread (the watcher's backstop)."""
        ...


class LiveLink(Protocol):
    """A live session as the watcher and the gateway see it."""

    @property
    def session(self) -> Session:
        """The session."""
        ...

    @property
    def reason(self) -> str | None:
        """Why it is being cut, once it is."""
        ...

    @property
    def severed(self) -> str | None:
        """Set once cut from the watcher's thread."""
        ...

    def idle_for(self) -> float:
        """Seconds without activity (monotonic)."""
        ...

    def expired(self, now: datetime) -> bool:
        """Past its session's end, by the wall clock or the time that really passed."""
        ...

    def sever(self, reason: str) -> None:
        """Stop relaying at once; safe from any thread."""
        ...

    def shut_down(self) -> None:
        """End the transport from any thread."""
        ...

    async def terminate(self, reason: str) -> None:
        """Cut politely, on the gateway's loop."""
        ...
