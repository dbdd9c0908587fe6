"""Random bytes from the kernel's CSPRNG, fetched a block at a time.

``os.urandom`` is one ``getrandom(2)`` system call per use, and a grant
needs four (session id, request id, certificate serial, certificate nonce).
On the machines this broker is measured on (Firecracker VMs) a system call
under load costs far more than the call's own work, so the bytes are fetched
4 KiB at a time: about 8 % more grants per second, old and new code
alternated (docs/benchmarks.md). The bytes are the kernel's either way.

Every byte is handed out once, under a lock (the event loop, the store's
thread and the gateway's watcher all draw). A child made by ``fork`` starts
with an empty pool, so it can never repeat bytes its parent hands out.
Long-lived secrets (keys, pseudonym secrets) do not come from here: they
come straight from ``secrets``.
"""

from __future__ import annotations

import os
import threading

BLOCK_BYTES = 4096
"""How many bytes one system call fetches; larger requests bypass the pool."""


class _Pool:
    """Kernel random bytes, fetched ``BLOCK_BYTES`` at a time, each handed out once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._used = 0

    def take(self, count: int) -> bytes:
        if count > BLOCK_BYTES:
            return os.urandom(count)
        with self._lock:
            start = self._used
            if start + count > len(self._block):
                self._block, start = os.urandom(BLOCK_BYTES), 0
            self._used = start + count
            return self._block[start : start + count]

    def forget(self) -> None:
        """Drop every unused byte (and a lock another thread may have held at fork)."""
        self._lock = threading.Lock()
        self._block = b""
        self._used = 0


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.forget)


def random_bytes(count: int) -> bytes:
    """``count`` bytes from the kernel's CSPRNG, never handed out before."""
    if count < 0:
        raise ValueError("count must not be negative")
    return _POOL.take(count)


def random_bits(bits: int) -> int:
    """A uniformly random non-negative integer below ``2 ** bits``."""
    value = int.from_bytes(random_bytes((bits + 7) // 8), "big")
    return value >> (-bits % 8)
