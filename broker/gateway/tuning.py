"""One asyncssh hot-path fix for the relay (asyncssh is pinned: pyproject.toml).

asyncssh hands every SSH packet it sends or receives to
``SSHPacketLogger._log_packet``, which copies the payload and formats a
message, and only then does ``SSHLogger.packet`` check whether packet logging
(``asyncssh.set_debug_level(3)``) is on. Under bulk terminal output the relay
handles every packet twice (target leg in, engineer leg out), and that work
was about a tenth of the gateway's CPU per megabyte (docs/benchmarks.md).

``skip_unlogged_packet_formatting`` wraps the method to ask first. With
packet logging on, asyncssh's own code runs unchanged, so nothing that
asyncssh would log is lost. If an asyncssh upgrade renames what this relies
on, the fix is skipped: it is only about speed, never about what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncssh.logging import SSHLogger
from asyncssh.packet import SSHPacketLogger

PACKET_LOG_LEVEL = 3
"""asyncssh's debug level from which it logs packets (``SSHLogger.packet``)."""

_MARK = "_broker_skips_unlogged"


def skip_unlogged_packet_formatting() -> bool:
    """Install the wrapper once per process; True if it is in place."""
    original: Callable[..., None] | None = getattr(SSHPacketLogger, "_log_packet", None)
    if original is None or not hasattr(SSHLogger, "_debug_level"):
        return False
    if getattr(original, _MARK, False):
        return True

    def _log_packet(self: SSHPacketLogger, *args: Any) -> None:
        if self.logger._debug_level >= PACKET_LOG_LEVEL:
            original(self, *args)

    setattr(_log_packet, _MARK, True)
    setattr(SSHPacketLogger, "_log_packet", _log_packet)  # noqa: B010  # mypy: no method assignment
    return True
