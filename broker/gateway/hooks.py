"""Seams for the output filter and the session recorder.

The relay passes every target->engineer byte through an ``OutputFilter`` and
reports input, output, resizes and markers to a ``Recorder``.
``broker.egress`` and ``broker.recording`` provide the real ones; the
defaults here pass everything and record nothing, so the relay works on its
own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from broker.egress.blocked import Blocked
from broker.models import Session


class OutputFilter(Protocol):
    """A stateful filter over the terminal output stream."""

    def feed(self, data: bytes) -> tuple[bytes, Sequence[Blocked]]:
        """Return the bytes to pass on and each blocked sequence (never its payload)."""
        ...

    def flush(self) -> tuple[bytes, Sequence[Blocked]]:
        """At the end of the stream: release held bytes, report an open string."""
        ...


class Recorder(Protocol):
    """Receives what a session carried, in order, and says where it went.

    ``path`` is None for a recorder that keeps nothing; ``failed`` is set once
    a write failed (the recording is then not evidence). The gateway sets
    ``on_failure`` to cut the session when recording stops mid-session.
    """

    on_failure: Callable[[OSError], None] | None

    @property
    def path(self) -> Path | None:
        """Where the recording is kept, or None when it is kept nowhere."""
        ...

    @property
    def failed(self) -> OSError | None:
        """The write error that stopped the recording, or None."""
        ...

    @property
    def bytes_written(self) -> int:
        """Bytes written to the recording so far."""
        ...

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes written so far."""
        ...

    def start(
        self, term: str, width: int, height: int, *, record_input: bool | None = None
    ) -> None:
        """The shell starts: write the header (terminal type and size)."""
        ...

    def close(self, reason: str) -> None:
        """The session ended for ``reason``: write the closing marker, make it durable."""
        ...

    def output(self, data: bytes) -> None:
        """Terminal output as the engineer saw it (after filtering)."""
        ...

    def input(self, data: bytes) -> None:
        """Keystrokes from the engineer."""
        ...

    def resize(self, width: int, height: int) -> None:
        """The terminal was resized."""
        ...

    def marker(self, text: str) -> None:
        """A notable event in the stream (a blocked sequence, the close reason)."""
        ...


class IdentityFilter:
    """Passes every byte through unchanged and blocks nothing."""

    def feed(self, data: bytes) -> tuple[bytes, Sequence[Blocked]]:
        """Return ``data`` as is."""
        return data, ()

    def flush(self) -> tuple[bytes, Sequence[Blocked]]:
        """Nothing is ever held."""
        return b"", ()


class NullRecorder:
    """Records nothing, keeps nothing, never fails."""

    path: Path | None = None
    failed: OSError | None = None
    bytes_written = 0
    sha256 = ""

    def __init__(self) -> None:
        self.on_failure: Callable[[OSError], None] | None = None

    def start(
        self, term: str, width: int, height: int, *, record_input: bool | None = None
    ) -> None:
        """Discard the header."""

    def close(self, reason: str) -> None:
        """Nothing to close."""

    def output(self, data: bytes) -> None:
        """Discard output."""

    def input(self, data: bytes) -> None:
        """Discard input."""

    def resize(self, width: int, height: int) -> None:
        """Discard the resize."""

    def marker(self, text: str) -> None:
        """Discard the marker."""


FilterFactory = Callable[[Session], OutputFilter]
"""Builds one fresh filter per session (filters keep state across reads)."""

RecorderFactory = Callable[[Session], Recorder]
"""Builds the recorder of one session."""


def identity_filter(_session: Session) -> OutputFilter:
    """The default ``FilterFactory``."""
    return IdentityFilter()


def null_recorder(_session: Session) -> Recorder:
    """The default ``RecorderFactory``."""
    return NullRecorder()
