"""The messages between the main process and its API worker processes.

One JSON object per line, over a ``socketpair`` the main process makes for
each worker (so no socket file exists that another local user could reach).
Every message has a ``kind``:

main -> worker
    ``setup`` (``config``, ``gateways``, ``port``), once, first;
    ``flushed`` (``id``) and ``metrics`` (``id``, ``snapshot``: every
    process summed), answers; ``audit_failed`` (``region``), when the main
    process could not write that region's chain.
worker -> main
    ``ready`` (``pid``) once it listens; ``event`` (``event``, ``region``,
    ``fields``); ``flush`` (``id``); ``metrics`` (``id``, ``snapshot``).

Event fields keep their Python types across the pipe: datetimes are tagged
(``{"$datetime": ISO-8601}``) and turned back into aware datetimes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from broker.errors import InputError

MAX_LINE = 1024 * 1024
"""The longest message a reader accepts (a setup or a metrics snapshot is the largest)."""
_DATETIME = "$datetime"


def encode(message: dict[str, Any]) -> bytes:
    """One message as a JSON line."""
    return json.dumps(message, default=_tag, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One JSON line back into a message; ``InputError`` if it is not one."""
    try:
        message = json.loads(line, object_hook=_untag)
    except ValueError as error:
        raise InputError("message", "not a JSON line") from error
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        raise InputError("kind", "every message names its kind")
    return message


def _tag(value: object) -> dict[str, str]:
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    raise TypeError(f"{type(value).__name__} cannot cross to the main process")


def _untag(value: dict[str, Any]) -> object:
    if len(value) == 1 and _DATETIME in value:
        return datetime.fromisoformat(value[_DATETIME])
    return value
