"""Identifiers the broker mints, as canonical UUID text.

Session ids are UUIDv7 (RFC 9562 section 5.7): 48 bits of Unix milliseconds,
then 74 random bits. They are still unguessable (the random part alone is
wider than a certificate serial), and because they grow with time a new
session lands at the end of the store's primary key instead of on a random
page. With random (v4) ids, each SQLite insert dirtied a random B-tree leaf:
an insert cost 163 us of CPU and held the write lock 260 us; with v7 ids,
78 us and 105 us (docs/benchmarks.md).

Both functions format the text themselves: ``str(uuid.uuid4())`` costs about
6 us, four times as much, and they run on every request.
"""

from __future__ import annotations

from datetime import datetime

from broker.randomness import random_bytes

_MILLIS_MASK = (1 << 48) - 1
_VARIANT = {f"{n:x}": f"{n & 0x3 | 0x8:x}" for n in range(16)}
"""A random hex digit to the digit that carries the RFC 9562 variant (10xx) and
two of its random bits."""


def time_ordered_uuid(at: datetime) -> str:
    """A UUIDv7 for the moment ``at`` (timezone-aware): time first, then 74 random bits."""
    millis = f"{int(at.timestamp() * 1000) & _MILLIS_MASK:012x}"
    rand = random_bytes(10).hex()  # 12 + 2 + 60 of its 80 bits are used
    return f"{millis[:8]}-{millis[8:]}-7{rand[:3]}-{_VARIANT[rand[3]]}{rand[4:7]}-{rand[7:19]}"


def random_uuid() -> str:
    """A UUIDv4: 122 random bits."""
    rand = random_bytes(16).hex()
    return f"{rand[:8]}-{rand[8:12]}-4{rand[13:16]}-{_VARIANT[rand[16]]}{rand[17:20]}-{rand[20:]}"
