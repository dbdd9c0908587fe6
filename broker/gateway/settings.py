"""Tunables of one regional gateway, with safe defaults."""

from __future__ import annotations

from dataclasses import dataclass

from broker.errors import InputError

FAST_CIPHERS: tuple[str, ...] = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes128-ctr",
)
"""AES-GCM first: asyncssh's default chacha20 relayed ~1.7x slower (docs/platform-notes.md)."""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Timeouts and limits; every value is in seconds or a count."""

    login_timeout: float = 20.0
    channel_grace: float = 10.0
    idle_timeout: float = 900.0
    poll_interval: float = 0.2
    connect_timeout: float = 10.0
    max_pending: int = 256
    max_pending_per_source: int = 32
    max_term_cells: int = 10_000
    max_term_pixels: int = 100_000

    def __post_init__(self) -> None:
        for name in ("login_timeout", "channel_grace", "idle_timeout", "poll_interval"):
            if getattr(self, name) <= 0:
                raise InputError(name, "must be positive")
        if self.max_pending < 1 or self.max_pending_per_source < 1:
            raise InputError("max_pending", "must be at least 1")

    def term_size_ok(self, width: int, height: int, pixwidth: int, pixheight: int) -> bool:
        """Whether a PTY size is plausible; absurd values are treated as malformed."""
        cells_ok = width <= self.max_term_cells and height <= self.max_term_cells
        return cells_ok and pixwidth <= self.max_term_pixels and pixheight <= self.max_term_pixels
