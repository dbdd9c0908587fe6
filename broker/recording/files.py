"""Reading recordings back, and repairing those a killed gateway left open.

A recording is read only from its own region's folder: ``region_recording``
takes the region (from the session in the store) and builds the one path it
may have; ``locate`` (for tools without a store) scans every region's folder
for the session and takes the region from the folder the file is in. Either
way the header's ``region`` must name that same folder, or the read is
refused with ``RegionMismatch``.

``mark_incomplete`` runs when a gateway starts: a recording that does not end
with a final marker, and that no live writer holds locked, is cut back to its
last whole line and gets a trailing ``incomplete`` marker, so asciinema and
these readers accept it.
"""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from broker import validate
from broker.audit.log import get_logger
from broker.errors import InputError, NotFoundError, RegionMismatch
from broker.recording import castfile
from broker.recording.castfile import Event
from broker.state import StateLayout, check_region
from broker.typing import Region, SessionId

_BLOCK = 64 * 1024
log = get_logger("broker.recording")


@dataclass(frozen=True, slots=True)
class Marker:
    """One ``"m"`` event: when, and what."""

    time: float
    text: str


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """What ``broker recording show`` prints: header, counts, markers, ending."""

    path: Path
    region: Region
    header: dict[str, Any]
    duration: float
    counts: dict[str, int] = field(default_factory=dict)
    markers: list[Marker] = field(default_factory=list)

    @property
    def final(self) -> str | None:
        """The final marker's text (``closed: ...`` or ``incomplete``), or None while open."""
        if self.markers and castfile.is_final((0.0, "m", self.markers[-1].text)):
            return self.markers[-1].text
        return None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary (ids, terminal, counts, markers)."""
        return {
            **castfile.header_ids(self.header),
            "region": self.region,
            "width": self.header.get("width"),
            "height": self.header.get("height"),
            "timestamp": self.header.get("timestamp"),
            "started": _iso(self.header.get("timestamp")),
            "term": (self.header.get("env") or {}).get("TERM"),
            "record_input": self.header.get("record_input"),
            "duration": round(self.duration, 3),
            "events": dict(self.counts),
            "final": self.final,
            "markers": [{"time": m.time, "text": m.text} for m in self.markers],
        }


def _iso(timestamp: object) -> str | None:
    """A header timestamp as ISO 8601 UTC, if it is one."""
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        try:
            return datetime.fromtimestamp(timestamp, UTC).isoformat()
        except (OverflowError, OSError, ValueError):  # a header no writer of ours made
            return None
    return None


def region_recording(state_dir: Path, region: str, session_id: str) -> Path:
    """The session's recording in ``region``'s folder; ``NotFoundError`` if absent."""
    path = castfile.recording_path(state_dir, region, session_id)
    if path.parent.is_symlink() or path.is_symlink() or not path.is_file():
        raise NotFoundError(
            "recording_not_found", "no recording for this session", session_id=session_id
        )
    check_header_region(path, Region(region))
    return path


def locate(state_dir: Path, session_id: str, region: str | None = None) -> tuple[Region, Path]:
    """Find a session's recording under ``<state>/regions/*/recordings``.

    With ``region`` only that region's folder is searched. The region is the
    folder's; a header naming another region is refused.
    """
    if region is not None:
        return check_region(region), region_recording(state_dir, region, session_id)
    name = validate.identifier(session_id, "session_id") + castfile.SUFFIX
    found = sorted(StateLayout(Path(state_dir)).regions.glob(f"*/{castfile.FOLDER}/{name}"))
    if not found:
        raise NotFoundError(
            "recording_not_found", "no recording for this session", session_id=session_id
        )
    if len(found) > 1:
        raise RegionMismatch(
            "recording_ambiguous",
            "recordings of this session in several regions",
            session_id=session_id,
        )
    folder_region = found[0].parent.parent.name
    return check_region(folder_region), region_recording(state_dir, folder_region, session_id)


def check_header_region(path: Path, region: Region) -> dict[str, Any]:
    """The header, after checking it names ``region`` (the folder's region)."""
    with path.open("rb") as stream:
        header = castfile.parse_header(stream.readline())
    if header.get("region") != region:
        raise RegionMismatch(
            "recording_region", "recording header names another region", region=region
        )
    return header


def iter_events(path: Path) -> Iterator[Event]:
    """Every event after the header; a last line still being written is skipped."""
    with path.open("rb") as stream:
        castfile.parse_header(stream.readline())
        for line in stream:
            if not line.endswith(b"\n"):
                return
            yield castfile.parse_event(line)


def read_info(path: Path, region: Region) -> RecordingInfo:
    """Header, duration, event counts and markers of one recording."""
    header = check_header_region(path, region)
    counts: Counter[str] = Counter()
    markers: list[Marker] = []
    duration = 0.0
    for time, code, data in iter_events(path):
        counts[code] += 1
        duration = max(duration, time)
        if code == "m":
            markers.append(Marker(time, data))
    return RecordingInfo(path, region, header, duration, dict(counts), markers)


def list_region(state_dir: Path, region: str) -> list[RecordingInfo]:
    """Every readable recording of one region, by file name."""
    folder = castfile.region_recordings(state_dir, region)
    paths = sorted(folder.glob(f"*{castfile.SUFFIX}")) if folder.is_dir() else []
    return [read_info(path, Region(region)) for path in paths if not path.is_symlink()]


def mark_incomplete(
    region_dir: Path, timestamp: int = 0, only: Collection[str] | None = None
) -> list[Path]:
    """Close every unfinished, unlocked recording of a region with ``incomplete``.

    ``region_dir`` is ``<state>/regions/<region>``. ``timestamp`` goes into
    the header written for a file that has none. ``only``: just these
    sessions' files (a replica taking over a dead sibling's, never a live
    sibling's mid-open). Returns the files changed.
    """
    region = check_region(Path(region_dir).name)
    folder = Path(region_dir) / castfile.FOLDER
    if not folder.is_dir():
        return []
    changed = []
    for path in sorted(folder.glob(f"*{castfile.SUFFIX}")):
        if only is not None and path.name.removesuffix(castfile.SUFFIX) not in only:
            continue
        try:
            if not path.is_symlink() and _repair(path, region, timestamp):
                castfile.mark_done(path)  # final now: the uploader need not wait for quiet
                changed.append(path)
        except OSError as error:
            # One unreadable file must not keep the gateway from starting.
            log.warning("recording.not_repaired", file=path.name, error=type(error).__name__)
    return changed


def _repair(path: Path, region: Region, timestamp: int) -> bool:
    """Repair one file unless a live writer holds it; True if it changed."""
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a running gateway is still writing it
        tail = _repair_tail(
            fd, region, SessionId(path.name.removesuffix(castfile.SUFFIX)), timestamp
        )
        if tail is None:
            return False
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, tail)
        os.fsync(fd)
        return True
    finally:
        os.close(fd)


def _repair_tail(fd: int, region: Region, session_id: SessionId, timestamp: int) -> bytes | None:
    """Truncate to the last valid whole line; the bytes to append, or None if final."""
    end = os.fstat(fd).st_size
    while True:
        span = _last_line(fd, end)
        if span is None:  # no whole line at all: not even a header survived
            os.ftruncate(fd, 0)
            header = castfile.minimal_header(region, session_id, timestamp)
            return castfile.encode(header) + castfile.event_line(0.0, "m", castfile.INCOMPLETE)
        start, stop = span
        parsed = _parse(os.pread(fd, stop - start, start), first=start == 0)
        if parsed is None:  # a garbled line: cut it and look again
            end = start
            continue
        os.ftruncate(fd, stop)
        if castfile.is_final(parsed):
            return None
        return castfile.event_line(parsed[0], "m", castfile.INCOMPLETE)


def _parse(line: bytes, first: bool) -> Event | None:
    """The line as an event (a header counts as time 0), or None if unreadable."""
    try:
        if first:
            castfile.parse_header(line)
            return (0.0, "header", "")
        return castfile.parse_event(line)
    except InputError:
        return None


def _last_line(fd: int, end: int) -> tuple[int, int] | None:
    """``(start, stop)`` of the last newline-terminated line before ``end``, or None.

    Bytes after the last newline (a line torn by the kill) are not part of it.
    """
    last_nl = _rfind_newline(fd, end)
    if last_nl is None:
        return None
    previous = _rfind_newline(fd, last_nl)
    return (0 if previous is None else previous + 1), last_nl + 1


def _rfind_newline(fd: int, end: int) -> int | None:
    """Offset of the last ``\\n`` before ``end``, reading backwards in blocks."""
    pos = end
    while pos > 0:
        start = max(0, pos - _BLOCK)
        index = os.pread(fd, pos - start, start).rfind(b"\n")
        if index >= 0:
            return start + index
        pos = start
    return None
