"""The on-disk shape of a session recording: asciicast v2 lines and folder layout.

A recording is ``<state>/regions/<region>/recordings/<session-id>.cast``: one
JSON header line, then one ``[time, code, data]`` line per event. Codes:
``"o"`` filtered output, ``"i"`` input, ``"r"`` resize ``"WxH"``, ``"m"``
marker. The last event of a finished recording is a *final* marker:
``closed: <reason>`` written by the recorder, or ``incomplete`` appended by
the next gateway start when the writer died first.

The header holds ids only (the session model has no names, emails or phone
numbers): ``HEADER_KEYS`` is the complete list of keys it may carry.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from broker import validate
from broker.errors import InputError
from broker.models import Session
from broker.state import StateLayout
from broker.typing import Region, SessionId

SUFFIX = ".cast"
FOLDER = "recordings"
DONE_SUFFIX = ".done"
"""A finished recording's sibling marker: ``<id>.cast.done``."""
_DONE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
CLOSED = "closed: "
"""Prefix of the final marker the recorder writes; the close reason follows."""
INCOMPLETE = "incomplete"
"""The final marker appended to a recording whose writer died."""
DEFAULT_SIZE = (80, 24)
MAX_TERM = 64

HEADER_KEYS = (
    "version",
    "width",
    "height",
    "timestamp",
    "env",
    "session_id",
    "ticket_id",
    "org_id",
    "staff_id",
    "region",
    "record_input",
)
"""Every key a recording header may have; ``env`` holds only TERM and SHELL."""

Event = tuple[float, str, str]
"""One decoded event: seconds since the start, code, data."""


def region_recordings(state_dir: Path, region: str) -> Path:
    """``<state>/regions/<region>/recordings`` (``region`` checked first)."""
    return StateLayout(Path(state_dir)).recordings(region)


def recording_path(state_dir: Path, region: str, session_id: str) -> Path:
    """The one path a session's recording may have, inside its region's folder."""
    name = validate.identifier(session_id, "session_id")
    return region_recordings(state_dir, region) / f"{name}{SUFFIX}"


def clean_term(term: str | None) -> str:
    """The client's TERM if it is short printable ASCII, else ``unknown``."""
    if term and len(term) <= MAX_TERM and term.isascii() and term.isprintable():
        return term
    return "unknown"


def build_header(
    session: Session,
    *,
    size: tuple[int, int],
    timestamp: int,
    term: str | None,
    record_input: bool,
    shell: str | None = None,
) -> dict[str, object]:
    """The header line's object: terminal, start time and the session's ids."""
    env = {"TERM": clean_term(term)}
    if shell is not None:
        env["SHELL"] = clean_term(shell)
    return {
        "version": 2,
        "width": size[0],
        "height": size[1],
        "timestamp": timestamp,
        "env": env,
        "session_id": session.id,
        "ticket_id": session.ticket_id,
        "org_id": session.org_id,
        "staff_id": session.staff_id,
        "region": session.region,
        "record_input": record_input,
    }


def minimal_header(region: Region, session_id: SessionId, timestamp: int) -> dict[str, object]:
    """A header for a recording whose writer died before writing one."""
    width, height = DEFAULT_SIZE
    return {
        "version": 2,
        "width": width,
        "height": height,
        "timestamp": timestamp,
        "env": {"TERM": "unknown"},
        "session_id": session_id,
        "region": region,
    }


def encode(item: object) -> bytes:
    """One asciicast line (header or event), newline-terminated UTF-8."""
    text = json.dumps(item, ensure_ascii=False, separators=(", ", ": "))
    return text.encode("utf-8") + b"\n"


def event_line(time: float, code: str, data: str) -> bytes:
    """An event line; time in seconds since the start, to the microsecond.

    Every byte of output passes through here: orjson escapes a terminal's
    text about 20 times faster than ``json.dumps`` (4 GB/s against 200 MB/s),
    which was a tenth of the gateway's CPU under bulk output.
    """
    return orjson.dumps([round(time, 6), code, data]) + b"\n"


def parse_header(line: bytes) -> dict[str, Any]:
    """The header of a recording, or ``InputError`` if it is not asciicast v2."""
    try:
        header = json.loads(line)
    except ValueError as error:
        raise InputError("recording", "header is not JSON") from error
    if not isinstance(header, dict) or header.get("version") != 2:
        raise InputError("recording", "not an asciicast v2 header")
    return header


def parse_event(line: bytes) -> Event:
    """One event line, or ``InputError`` naming what is wrong."""
    try:
        item = json.loads(line)
    except ValueError as error:
        raise InputError("recording", "event is not JSON") from error
    ok = isinstance(item, list) and len(item) == 3
    if not ok or not isinstance(item[0], int | float) or isinstance(item[0], bool):
        raise InputError("recording", "event is not [time, code, data]")
    if not isinstance(item[1], str) or not isinstance(item[2], str):
        raise InputError("recording", "event is not [time, code, data]")
    return float(item[0]), item[1], item[2]


def is_final(event: Event) -> bool:
    """True for the marker that ends a recording (closed or incomplete)."""
    _time, code, data = event
    return code == "m" and (data.startswith(CLOSED) or data == INCOMPLETE)


def header_ids(header: Mapping[str, Any]) -> dict[str, str]:
    """The id fields of a header that are present, as strings."""
    keys = ("session_id", "ticket_id", "org_id", "staff_id", "region")
    return {key: str(header[key]) for key in keys if key in header}


def mark_done(path: Path) -> None:
    """Create ``<id>.cast.done`` (0600) beside a final recording: the uploader may take it now.

    Without it the uploader still takes the file once it is unlocked and
    quiet, so a marker that cannot be written only delays the upload."""
    with contextlib.suppress(OSError):
        os.close(os.open(path.with_name(path.name + DONE_SUFFIX), _DONE_FLAGS, 0o600))
