"""Compact JSON as bytes, fast: orjson where it can, the standard encoder where it refuses.

Both the worker-to-main messages (``broker.runtime.workers.wire``) and the audit
trail's records (``broker.audit.segments``) are written on hot paths, and
orjson writes them in about a tenth of the standard encoder's time. What
orjson would write in its own way or not at all (a datetime, a dataclass, an
integer beyond 64 bits, a lone surrogate, any non-JSON type) goes to the
standard encoder, which writes it as ``json.dumps`` would or refuses it
(``TypeError``). Either way there are no spaces between tokens and never a raw
newline.
orjson writes non-ASCII text as UTF-8; the standard encoder escapes it
(``\\uXXXX``), which is how a lone surrogate survives the trip.

``loads`` reads either back exactly, when ``dumps`` marked which wrote it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_STANDARD = json.JSONEncoder(separators=(",", ":"))
_PLAIN_ONLY = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""orjson for plain JSON only: what it would write in its own way is passed to the
standard encoder's turn (orjson raises ``TypeError`` for it)."""


STANDARD_MARK = b" "
"""What ``dumps(..., mark=True)`` puts before the standard encoder's output (JSON allows
leading whitespace): ``loads`` then reads it with the standard decoder."""
_DECODER = json.JSONDecoder()


def dumps(value: Any, *, mark: bool = False) -> bytes:
    """``value`` as compact JSON bytes; ``TypeError`` if JSON cannot carry it.

    With ``mark``, what the standard encoder wrote starts with ``STANDARD_MARK``."""
    try:
        return orjson.dumps(value, option=_PLAIN_ONLY)
    except TypeError:
        standard = _STANDARD.encode(value).encode()  # ASCII: non-ASCII text is escaped
        return STANDARD_MARK + standard if mark else standard


def loads(data: bytes) -> Any:
    """Read back exactly what ``dumps(..., mark=True)`` wrote; ``ValueError`` if not JSON.

    orjson reads its own output exactly, several times faster than the
    standard decoder; but it would read an integer past 64 bits (which only
    the standard encoder writes) as a float, so a marked value goes to the
    standard decoder."""
    if data.startswith(STANDARD_MARK):
        return _DECODER.decode(data.decode())
    return orjson.loads(data)
