"""Seams for the output filter and the session recorder.

The relay passes every target->engineer byte through an ``OutputFilter`` and
reports input, output, resizes and markers to a ``Recorder``. The egress
module provides the real ones; the defaults here pass everything and record
nothing, so the relay works on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from broker.models import Session


class OutputFilter(Protocol):
    """A stateful filter over the terminal output stream."""

    def feed(self, data: bytes) -> tuple[bytes, list[str]]:
        """Return the bytes to pass on and a description of each blocked sequence."""
        ...


class Recorder(Protocol):
    """Receives what a session carried, in order."""

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

    def feed(self, data: bytes) -> tuple[bytes, list[str]]:
        """Return ``data`` as is."""
        return data, []


class NullRecorder:
    """Records nothing."""

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
