"""A recording loaded for replay, and screen snapshots beside it for fast seeking.

A replay seeks by starting from the last snapshot at or before the target
time and playing the few events after it, so a seek anywhere in an hour
costs one snapshot and at most ``SNAPSHOT_EVERY`` seconds of output. A
snapshot is the screen as the escape sequences that redraw it (characters,
colours, attributes, cursor, title): data for our own emulator, the same
kind of bytes as the recording, never code. Snapshots live in the region,
beside the recording (``<session>.cast.snapshots``, JSON Lines, written
under a temporary name and renamed); a missing, unreadable or stale file
(its header names another size of the recording) is rebuilt by playing
the whole recording once. If the folder cannot be written, the snapshots
just built serve from memory.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyte.graphics import BG_AIXTERM, BG_ANSI, FG_AIXTERM, FG_ANSI

from broker.recording import castfile
from broker.recording.castfile import Event
from broker.recording.files import check_header_region, iter_events
from broker.typing import Region
from broker.viewer.emulator import ViewScreen
from broker.viewer.stream import ViewStream

SNAPSHOT_EVERY = 10.0
"""Seconds of recording time between snapshots."""
SUFFIX = ".snapshots"
FORMAT = 1
_KIND = re.compile(r"[a-z0-9_]{1,32}")
_FG = {name: code for code, name in {**FG_ANSI, **FG_AIXTERM}.items()}
_BG = {name: code for code, name in {**BG_ANSI, **BG_AIXTERM}.items()}
_HEX = re.compile(r"[0-9a-fA-F]{6}")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The screen before event ``index``, at recording time ``time``."""

    index: int
    time: float
    cols: int
    rows: int
    screen: bytes


@dataclass(slots=True)
class Recording:
    """One recording's output, resizes and markers, ready to replay."""

    cols: int
    rows: int
    events: list[Event]
    times: list[float] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """The time of the last event (seconds)."""
        return self.times[-1] if self.times else 0.0

    def markers(self) -> list[tuple[int, str]]:
        """(ms, kind) of every marker and resize; kinds are codes, never recording text."""
        found = [(t, marker_kind(code, data)) for t, code, data in self.events if code != "o"]
        return [(int(t * 1000), kind) for t, kind in found]

    def snapshot_before(self, time: float) -> Snapshot:
        """The last snapshot at or before ``time`` (the first is the empty screen)."""
        at = bisect.bisect_right([s.time for s in self.snapshots], time) - 1
        return self.snapshots[max(0, at)]


def marker_kind(code: str, data: str) -> str:
    """A marker's kind: ``resize``, ``egress_blocked:<kind>``, ``closed:<reason>``..."""
    if code == "r":
        return "resize"
    word, _, rest = data.partition(" ")
    if word == "egress.blocked":
        kind = rest.split(" ", 1)[0]
        return f"egress_blocked:{kind}" if _KIND.fullmatch(kind) else "egress_blocked"
    if data.startswith(castfile.CLOSED):
        reason = data.removeprefix(castfile.CLOSED)
        return f"closed:{reason}" if _KIND.fullmatch(reason) else "closed"
    return "incomplete" if data == castfile.INCOMPLETE else "marker"


def output_bytes(data: str) -> bytes:
    """An ``"o"`` event's text as the bytes the emulator takes."""
    return data.encode("utf-8", "replace")


def load(path: Path, region: Region) -> Recording:
    """The recording (header checked against ``region``) with its snapshots."""
    header = check_header_region(path, region)
    events = [e for e in iter_events(path) if e[1] in ("o", "r", "m")]
    recording = Recording(int(header.get("width") or 80), int(header.get("height") or 24), events)
    recording.times = [e[0] for e in events]
    size = path.stat().st_size
    snaps = path.with_name(path.name + SUFFIX)
    cached = _read(snaps, size)
    recording.snapshots = cached or _build(recording)
    if cached is None:
        _write(snaps, size, recording.snapshots)
    return recording


def _read(path: Path, size: int) -> list[Snapshot] | None:
    """The snapshots in ``path`` if they were made for a recording of ``size`` bytes."""
    try:
        lines = path.read_bytes().splitlines()
        header = json.loads(lines[0])
        if header != {"format": FORMAT, "cast_bytes": size, "every": SNAPSHOT_EVERY}:
            return None
        return [_snapshot(json.loads(line)) for line in lines[1:]] or None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _snapshot(item: dict[str, Any]) -> Snapshot:
    screen = base64.b64decode(item["screen"], validate=True)
    return Snapshot(int(item["i"]), float(item["t"]), int(item["cols"]), int(item["rows"]), screen)


def _write(path: Path, size: int, snapshots: list[Snapshot]) -> None:
    """Write beside the recording; an unwritable folder keeps them in memory only."""
    header = {"format": FORMAT, "cast_bytes": size, "every": SNAPSHOT_EVERY}
    lines = [json.dumps(header)] + [
        json.dumps({"i": s.index, "t": s.time, "cols": s.cols, "rows": s.rows,
                    "screen": base64.b64encode(s.screen).decode("ascii")})
        for s in snapshots
    ]  # fmt: skip
    partial = path.with_name(f".{path.name}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(("\n".join(lines) + "\n").encode("ascii"))
        partial.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()


def _build(recording: Recording) -> list[Snapshot]:
    """Play the whole recording once, keeping the screen every ``SNAPSHOT_EVERY`` s."""
    screen = ViewScreen(recording.cols, recording.rows, 0)
    stream = ViewStream(screen)
    snapshots = [Snapshot(0, 0.0, recording.cols, recording.rows, b"")]
    next_at = SNAPSHOT_EVERY
    for index, (time, code, data) in enumerate(recording.events):
        if time >= next_at:
            snapshots.append(Snapshot(index, time, screen.columns, screen.lines, redraw(screen)))
            next_at = time + SNAPSHOT_EVERY
        apply(screen, stream, code, data)
    return snapshots


def apply(screen: ViewScreen, stream: ViewStream, code: str, data: str) -> None:
    """One event onto a bare emulator (output, or a resize)."""
    if code == "o":
        stream.feed(output_bytes(data))
    elif code == "r":
        size = parse_size(data)
        if size is not None:
            screen.resize(lines=size[1], columns=size[0])


def parse_size(data: str) -> tuple[int, int] | None:
    """``"WxH"`` as (cols, rows), within the viewer's bounds; None otherwise."""
    cols, _, rows = data.partition("x")
    if not (cols.isdigit() and rows.isdigit()):
        return None
    size = int(cols), int(rows)
    return size if 1 <= size[0] <= 400 and 1 <= size[1] <= 200 else None


def redraw(screen: ViewScreen) -> bytes:
    """The escape sequences that draw ``screen`` as it is on a cleared terminal."""
    out = ["\x1b[0m\x1b[H\x1b[2J"]
    for y in range(screen.lines):
        line = screen.view_line(y, 0)
        out.append(f"\x1b[{y + 1};1H")
        last: tuple[object, ...] | None = None
        for x in range(screen.columns):
            char = line.get(x) or screen.default_char
            attrs = tuple(char)[1:]
            if attrs != last:
                out.append(_sgr(char))
                last = attrs
            out.append(char.data)
    cursor = screen.cursor
    out.append(f"\x1b[0m\x1b[{cursor.y + 1};{cursor.x + 1}H")
    if screen.title:
        title = "".join(c for c in screen.title if c.isprintable())
        out.append(f"\x1b]2;{title}\x07")
    if cursor.hidden:
        out.append("\x1b[?25l")
    return "".join(out).encode("utf-8", "replace")


def _sgr(char: Any) -> str:
    codes = ["0"]
    flags = (
        (char.bold, "1"), (char.italics, "3"), (char.underscore, "4"), (char.blink, "5"),
        (char.reverse, "7"), (char.strikethrough, "9"),
    )  # fmt: skip
    codes += [code for on, code in flags if on]
    codes += [c for c in (_color(char.fg, _FG, 38), _color(char.bg, _BG, 48)) if c]
    return f"\x1b[{';'.join(codes)}m"


def _color(name: str, table: dict[str, int], extended: int) -> str:
    if name == "default":
        return ""
    if name in table:
        return str(table[name])
    if _HEX.fullmatch(name):
        red, green, blue = (int(name[i : i + 2], 16) for i in (0, 2, 4))
        return f"{extended};2;{red};{green};{blue}"
    return ""
