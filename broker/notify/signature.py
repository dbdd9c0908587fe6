"""The webhook signature: HMAC-SHA256 over the timestamp and the exact body.

Every delivery carries::

    X-Broker-Signature: t=1764849600,v1=<64 hex digits>

``t`` is the Unix time (seconds) of this attempt; ``v1`` is the lower-case
hex of ``HMAC-SHA256(secret, f"{t}." + body)``, over the body's raw bytes as
received. A receiver recomputes it with the org's secret, compares in
constant time, and refuses a ``t`` outside its replay window (5 minutes by
default). The scheme is Stripe's and GitHub's: the timestamp is inside the
MAC, so a captured request cannot be replayed later with a fresh ``t``.
Several ``v1=`` entries may appear (a secret being rotated); one match is
enough. Every retry is signed anew with its own ``t``; the body (and its
delivery ``id``, for de-duplication) stays the same.
"""

from __future__ import annotations

import hashlib
import hmac

from broker.errors import AuthenticationError

HEADER = "X-Broker-Signature"
SCHEME = "v1"
REPLAY_WINDOW_SECONDS = 300
MIN_SECRET_BYTES = 32
"""The shortest signing secret accepted: 256 bits, the HMAC's own strength."""


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``v1`` MAC of ``body`` at ``timestamp``, as lower-case hex."""
    return hmac.new(secret, b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Broker-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},{SCHEME}={signature(secret, timestamp, body)}"


def verify(
    secret: bytes,
    header: str,
    body: bytes,
    now: float,
    window: float = REPLAY_WINDOW_SECONDS,
) -> int:
    """Check a received signature; its timestamp, or ``AuthenticationError``.

    ``now`` is the receiver's Unix time; a ``t`` more than ``window`` seconds
    away from it (either way) is refused, as is a header without ``t`` or
    without a matching ``v1``."""
    timestamp, macs = _parse(header)
    if abs(now - timestamp) > window:
        raise AuthenticationError("signature_stale", "signature timestamp outside the window")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, mac) for mac in macs):
        raise AuthenticationError("signature_invalid", "no signature matches the body")
    return timestamp


def _parse(header: str) -> tuple[int, list[str]]:
    """``t`` and every ``v1`` of a header; unknown schemes are ignored (forward compatible)."""
    timestamp: int | None = None
    macs: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME:
            macs.append(value)
    if timestamp is None or not macs:
        raise AuthenticationError("signature_malformed", f"{HEADER} needs t= and {SCHEME}=")
    return timestamp, macs
