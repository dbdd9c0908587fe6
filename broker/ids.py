"""Identifiers the broker mints.

Session ids are UUIDv7 (RFC 9562 section 5.7): 48 bits of Unix milliseconds,
then 74 random bits. They are still unguessable (the random part alone is
wider than a certificate serial), and because they grow with time a new
session lands at the end of the store's primary key instead of on a random
page. With random (v4) ids, each SQLite insert dirtied a random B-tree leaf:
measured on this machine, an insert cost 163 us of CPU and held the write lock
260 us; with v7 ids, 78 us and 105 us (docs/benchmarks.md).
"""

from __future__ import annotations

import os
from datetime import datetime

_MILLIS_MASK = (1 << 48) - 1
_RAND_A_BITS = 12
_RAND_B_BITS = 62


def time_ordered_uuid(at: datetime) -> str:
    """A canonical UUIDv7 string for the moment ``at`` (timezone-aware)."""
    millis = int(at.timestamp() * 1000) & _MILLIS_MASK
    rand = int.from_bytes(os.urandom(10))  # 80 bits; 74 are used
    rand_a = rand >> (80 - _RAND_A_BITS)
    rand_b = rand & ((1 << _RAND_B_BITS) - 1)
    value = millis << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
