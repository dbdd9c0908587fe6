"""The messages between the main process and its API worker processes.

One JSON object per line, over a ``socketpair`` the main process makes for
each worker (so no socket file exists that another local user could reach).
Every message has a ``kind``:

main -> worker
    ``setup`` (``config``, ``gateways``), once, first;
    ``flushed`` (``id``) and ``metrics`` (``id``, ``snapshot``: every
    process summed), answers; ``audit_failed`` (``region``), when the main
    process could not write that region's chain.
worker -> main
    ``ready`` (``pid``) once it listens; ``events`` (``events``); ``flush``
    (``id``); ``metrics`` (``snapshot``, and ``id`` when it wants the sum back).

Workers send their events in batches (``events``: a list of ``[event,
region, fields]``), one message per turn of their event loop, so a busy
worker costs the main process one line per turn rather than one per event.
Fields are plain JSON: the worker turns times into the audit trail's own
text first (``MainLink.emit``).
"""

from __future__ import annotations

from typing import Any

from broker import compact_json
from broker.errors import InputError

MAX_LINE = 1024 * 1024
"""The longest message a reader accepts (a setup or a metrics snapshot is the largest)."""


def encode(message: dict[str, Any]) -> bytes:
    """One message as a JSON line (``TypeError`` for a value JSON cannot carry).

    Written by ``compact_json`` (orjson, or the standard encoder for what
    orjson refuses, marked so), which never puts a raw newline inside the
    line; ``decode`` reads both back exactly.
    """
    return compact_json.dumps(message, mark=True) + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One JSON line back into a message; ``InputError`` if it is not one."""
    try:
        message = compact_json.loads(line)
    except ValueError as error:
        raise InputError("message", "not a JSON line") from error
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        raise InputError("kind", "every message names its kind")
    return message
