"""What the egress filter reports: a removed run of bytes and its family.

The filter's only output type besides the bytes it passes. It lives apart
from the filter so that the seams (``broker.gateway.hooks``, replay, the
viewer) name it without importing the filter's implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """The stable family name of a removed run of bytes."""

    OSC52 = "osc52"
    OSC52_C1 = "osc52-c1"
    ITERM2_FILE = "iterm2-file"
    ITERM2_CLIPBOARD = "iterm2-clipboard"
    ITERM2_OTHER = "iterm2-other"
    KITTY_FILE = "kitty-file"
    KITTY_CLIPBOARD = "kitty-clipboard"
    KITTY_CMD = "kitty-cmd"
    OSC_OTHER = "osc-other"
    DCS_PASSTHROUGH = "dcs-passthrough"
    DCS_OTHER = "dcs-other"
    APC = "apc"
    PM = "pm"
    SOS = "sos"
    ZMODEM = "zmodem"
    TRZSZ = "trzsz"
    MALFORMED = "malformed"
    OVERSIZE = "oversize"


@dataclass(frozen=True, slots=True)
class Blocked:
    """One removed run of output bytes: ``length`` bytes from stream ``offset``.

    Never carries the removed bytes: they may be customer data. Runs never
    overlap, and the output is the input with every run cut out. Adjacent
    ZMODEM, trzsz or lone-ESC cuts within one read are one run, so such a
    flood is one record; each removed string is its own.
    ``str()`` is the kind; ``marker()`` and ``fields()`` feed a recorder's
    ``"m"`` event and an ``egress.blocked`` audit event.
    """

    kind: Kind
    offset: int
    length: int

    def __str__(self) -> str:
        """The kind, as the relay's ``egress.blocked`` detail."""
        return str(self.kind)

    def marker(self) -> str:
        """Text for an asciicast ``"m"`` marker event."""
        return f"egress.blocked {self.kind} offset={self.offset} length={self.length}"

    def fields(self) -> dict[str, object]:
        """Fields for a structured ``egress.blocked`` event."""
        return {"kind": str(self.kind), "offset": self.offset, "length": self.length}
