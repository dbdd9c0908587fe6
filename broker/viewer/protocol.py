"""The viewer's WebSocket protocol (version 1): pixels out, keys in, never screen text.

Client -> server: JSON text messages, one object each. Every field is checked;
a bad one is an ``InputError`` naming the field (never echoing its value).

==========  ===========================================  =========================
type        fields                                       bounds
==========  ===========================================  =========================
hello       ``token``: str                               first message; 1-512
                                                         printable ASCII
input       ``data``: str (keys, sent to the target      1-4096 UTF-8 bytes
            as UTF-8)
paste       ``data``: str                                1-65536 UTF-8 bytes
                                                         (over: ``PayloadTooLarge``);
                                                         audited by size only
resize      ``cols``: int, ``rows``: int                 cols 20-400, rows 5-200
scroll      ``lines``: int (negative = back into the     -100000..100000; 0 = live
            scrollback)
play        (replay only) start or go on playing
pause       (replay only) stop where it is
speed       ``percent``: int (replay only)               50-800 (0.5x to 8x)
seek        ``ms``: int, the recording's time (replay)   0..2**31
==========  ===========================================  =========================

A text message is at most ``MAX_CLIENT_MESSAGE`` bytes; unknown types and
unknown fields are refused.

Server -> client:

- **binary frame messages**, a 12-byte big-endian header then an image::

      offset size field
      0      1    op      1 CANVAS: set the canvas to w x h (clears it); no image
                          2 DRAW:   draw the image with its top-left at x, y
                          3 SCROLL: move the pixels of rect x, y, w, h by dy
                                    (negative = up); the rows it uncovers follow
                                    as DRAW messages in the same batch
      1      1    format  0 none, 1 PNG, 2 WebP (lossless)
      2      2    x       pixels, unsigned
      4      2    y       pixels, unsigned
      6      2    w       pixels, unsigned
      8      2    h       pixels, unsigned
      10     2    dy      pixels, signed (SCROLL only, else 0)
      12     -    image   PNG or WebP bytes (DRAW only)

  The terminal's rows are ``rows * cell_h`` pixels from the top; the status bar
  (``status_h`` pixels: title, banner, watchers, scroll position, all drawn)
  lies below them. Every strip carries the watermark.

- **JSON control messages**, which never carry screen text:
  ``{"type":"ready","protocol":1,"cols","rows","cell_w","cell_h","status_h"}``
  after hello and after every resize;
  ``{"type":"end","reason":CODE,"message":TEXT}`` with TEXT from ``END_REASONS``
  (ours, fixed), after which the server closes the socket;
  ``{"type":"error","code":CODE}`` (plus ``"field"`` naming a bad field);
  for a replay, ``{"type":"timeline","duration_ms","markers":[{"ms","kind"}]}``
  once, and ``{"type":"position","ms","playing","percent"}`` as it moves
  (marker kinds are our codes: ``egress_blocked:osc52``, ``resize``,
  ``closed:<reason>``; never recording text).
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from broker.errors import InputError, PayloadTooLarge

PROTOCOL_VERSION: Final = 1
MAX_CLIENT_MESSAGE: Final = 512 * 1024  # a 64 KiB paste of escaped JSON fits
MAX_PASTE_BYTES: Final = 64 * 1024
MAX_INPUT_BYTES: Final = 4096
MAX_TOKEN_CHARS: Final = 512
COLS_RANGE: Final = (20, 400)
ROWS_RANGE: Final = (5, 200)
MAX_SCROLL: Final = 100_000

OP_CANVAS: Final = 1
OP_DRAW: Final = 2
OP_SCROLL: Final = 3
FORMAT_NONE: Final = 0
FORMAT_PNG: Final = 1
FORMAT_WEBP: Final = 2
HEADER: Final = struct.Struct(">BBHHHHh")

END_REASONS: Final[dict[str, str]] = {
    "exited": "The session on the target ended.",
    "revoked": "An administrator revoked this session.",
    "expired": "The session reached its time limit.",
    "idle": "The session was closed after being idle too long.",
    "ticket_closed": "The ticket for this session was closed.",
    "target_unreachable": "The target could not be reached from the region.",
    "replaced": "This session was opened in another viewer.",
    "shutdown": "The regional viewer is shutting down.",
    "consent_revoked": "The customer withdrew the consent this session relied on.",
    "staff_deactivated": "Your staff account was deactivated.",
    "unavailable": "The region cannot confirm the session is still valid.",
    "recording": "The session cannot be recorded in the region.",
    "error": "The session ended because of an error in the region.",
}

_CODE = re.compile(r"[a-z][a-z0-9_]{0,47}")
_KIND = re.compile(r"[a-z][a-z0-9_.:]{0,47}")
_TOKEN = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Hello:
    """The first message: the single-use token from the URL fragment."""

    token: str


@dataclass(frozen=True, slots=True)
class Input:
    """Keys typed, as the bytes an xterm would send."""

    data: str


@dataclass(frozen=True, slots=True)
class Paste:
    """Pasted text (ingress): at most 64 KiB."""

    data: str


@dataclass(frozen=True, slots=True)
class Resize:
    """The browser's viewport in cells."""

    cols: int
    rows: int


@dataclass(frozen=True, slots=True)
class Scroll:
    """Move the view into the server-side scrollback (negative = back; 0 = live)."""

    lines: int


@dataclass(frozen=True, slots=True)
class Play:
    """Replay: play from the current position."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Replay: stop at the current position."""


@dataclass(frozen=True, slots=True)
class Speed:
    """Replay: the speed in percent (50 = 0.5x, 800 = 8x)."""

    percent: int


@dataclass(frozen=True, slots=True)
class Seek:
    """Replay: jump to this time of the recording, in milliseconds."""

    ms: int


SPEED_RANGE = (50, 800)
MAX_SEEK_MS = 2**31

ClientMessage = Hello | Input | Paste | Resize | Scroll | Play | Pause | Speed | Seek

_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "hello": ("token",),
    "input": ("data",),
    "paste": ("data",),
    "resize": ("cols", "rows"),
    "scroll": ("lines",),
    "play": (),
    "pause": (),
    "speed": ("percent",),
    "seek": ("ms",),
}


def parse_client(message: str | bytes) -> ClientMessage:
    """One client message, validated; ``InputError`` names the bad field."""
    if len(message) > MAX_CLIENT_MESSAGE:
        raise PayloadTooLarge("message", f"is over {MAX_CLIENT_MESSAGE} bytes", "too_large")
    try:
        body = json.loads(message)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError("message", "is not a JSON object") from error
    if not isinstance(body, dict):
        raise InputError("message", "is not a JSON object")
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise InputError("type", f"must be one of {', '.join(_FIELDS)}")
    for field in body:
        if field != "type" and field not in _FIELDS[kind]:
            name = field if _CODE.fullmatch(field) else "message"  # a client's key, not ours
            raise InputError(name, f"has a field {kind} does not take", code="unknown_field")
    return _BUILDERS[kind](body)


def _hello(body: dict[str, Any]) -> Hello:
    token = _string(body, "token")
    if len(token) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
        raise InputError("token", f"must be 1-{MAX_TOKEN_CHARS} printable ASCII characters")
    return Hello(token)


def _input(body: dict[str, Any]) -> Input:
    data = _string(body, "data")
    if _utf8_size(data, "data") > MAX_INPUT_BYTES:
        raise PayloadTooLarge("data", f"input is over {MAX_INPUT_BYTES} bytes", "too_large")
    return Input(data)


def _paste(body: dict[str, Any]) -> Paste:
    data = _string(body, "data")
    if _utf8_size(data, "data") > MAX_PASTE_BYTES:
        raise PayloadTooLarge(
            "data", f"paste is over {MAX_PASTE_BYTES} bytes (64 KiB)", "too_large"
        )
    return Paste(data)


def _resize(body: dict[str, Any]) -> Resize:
    return Resize(_integer(body, "cols", *COLS_RANGE), _integer(body, "rows", *ROWS_RANGE))


def _scroll(body: dict[str, Any]) -> Scroll:
    return Scroll(_integer(body, "lines", -MAX_SCROLL, MAX_SCROLL))


_BUILDERS: Final[dict[str, Callable[[dict[str, Any]], ClientMessage]]] = {
    "hello": _hello,
    "input": _input,
    "paste": _paste,
    "resize": _resize,
    "scroll": _scroll,
    "play": lambda _body: Play(),
    "pause": lambda _body: Pause(),
    "speed": lambda body: Speed(_integer(body, "percent", *SPEED_RANGE)),
    "seek": lambda body: Seek(_integer(body, "ms", 0, MAX_SEEK_MS)),
}


def _string(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise InputError(field, "must be a non-empty string")
    return value


def _utf8_size(value: str, field: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as error:  # lone surrogates from a broken client
        raise InputError(field, "is not valid Unicode") from error


def _integer(body: dict[str, Any], field: str, low: int, high: int) -> int:
    value = body.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InputError(field, f"must be an integer from {low} to {high}")
    return value


def frame_header(op: int, fmt: int, rect: tuple[int, int, int, int], dy: int = 0) -> bytes:
    """The 12-byte header of a binary frame message; ``rect`` is x, y, w, h."""
    return HEADER.pack(op, fmt, *rect, dy)


def timeline(duration_ms: int, markers: list[tuple[int, str]]) -> str:
    """The replay's ``timeline`` control message: its length and markers (times and
    kinds, our own codes; never recording text)."""
    for _, kind in markers:
        if not _KIND.fullmatch(kind):
            raise ValueError("marker kinds are short codes")
    body = {"type": "timeline", "duration_ms": duration_ms}
    return json.dumps(body | {"markers": [{"ms": ms, "kind": kind} for ms, kind in markers]})


def position(ms: int, playing: bool, percent: int) -> str:
    """The replay's ``position`` control message: where it is, whether it plays, how fast."""
    return json.dumps({"type": "position", "ms": ms, "playing": playing, "percent": percent})


def ready(cols: int, rows: int, cell_w: int, cell_h: int, status_h: int) -> str:
    """The ``ready`` control message: the grid and the pixel size of a cell."""
    return json.dumps({
        "type": "ready", "protocol": PROTOCOL_VERSION, "cols": cols, "rows": rows,
        "cell_w": cell_w, "cell_h": cell_h, "status_h": status_h,
    })  # fmt: skip


def end(reason: str) -> str:
    """The ``end`` control message with our fixed explanation for ``reason``."""
    if reason not in END_REASONS:
        raise ValueError(f"unknown end reason {reason!r}")
    return json.dumps({"type": "end", "reason": reason, "message": END_REASONS[reason]})


def error(code: str, field: str | None = None) -> str:
    """The ``error`` control message: a code, and the name of a bad field."""
    if not _CODE.fullmatch(code) or (field is not None and not _CODE.fullmatch(field)):
        raise ValueError("error codes and field names are short snake_case words")
    body = {"type": "error", "code": code}
    if field is not None:
        body["field"] = field
    return json.dumps(body)


def error_for(problem: InputError) -> str:
    """The ``error`` message for a refused client message."""
    return error(problem.code, problem.field if _CODE.fullmatch(problem.field) else None)
