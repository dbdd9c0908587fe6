"""Snapshots beside a recording: redraw exactness, kept in the region, rebuilt when missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.errors import RegionMismatch
from broker.viewer import snapshots
from broker.viewer.emulator import ViewScreen
from broker.viewer.snapshots import SNAPSHOT_EVERY, SUFFIX, load, marker_kind, redraw
from broker.viewer.stream import ViewStream
from tests.recording.test_recorder import REGION, make_session, make_store

SAMPLES = [
    b"plain text\r\nsecond line",
    b"\x1b[1;31mbold red\x1b[0m \x1b[38;2;10;20;30mrgb\x1b[0m \x1b[7mreverse\x1b[0m",
    "wide \u6f22\u5b57 and \u00e9\r\n".encode(),
    b"\x1b]2;a title\x07\x1b[3;5Hmoved\x1b[?25l",
    b"\x1b[44m\x1b[2Kblue line\x1b[0m\r\n\x1b[4;9munder strike\x1b[0m",
]


def screen_after(data: bytes, cols: int = 40, rows: int = 8) -> ViewScreen:
    """An emulator fed ``data``."""
    screen = ViewScreen(cols, rows, 0)
    ViewStream(screen).feed(data)
    return screen


def same(a: ViewScreen, b: ViewScreen) -> bool:
    """Cells, cursor and title equal."""
    cells = all(a.buffer[y][x] == b.buffer[y][x] for y in range(a.lines) for x in range(a.columns))
    cursor = (a.cursor.x, a.cursor.y, a.cursor.hidden) == (b.cursor.x, b.cursor.y, b.cursor.hidden)
    return cells and cursor and a.title == b.title


class TestRedraw:
    """A snapshot redraws exactly the screen it was taken of."""

    @pytest.mark.parametrize("data", SAMPLES)
    def test_round_trip(self, data: bytes) -> None:
        """Feeding the redraw to a fresh emulator gives the same cells, cursor and title."""
        original = screen_after(data)
        assert same(original, screen_after(redraw(original)))

    @settings(max_examples=60, deadline=None)
    @given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=200))
    def test_any_printable_text(self, text: str) -> None:
        """Any printable text (with line breaks made of spaces) survives a redraw."""
        original = screen_after(text.encode())
        assert same(original, screen_after(redraw(original)))


class TestMarkerKind:
    """Timeline labels are kinds, never recording text."""

    @pytest.mark.parametrize(
        ("code", "data", "kind"),
        [
            ("r", "100x30", "resize"),
            ("m", "egress.blocked osc52 offset=6 length=20", "egress_blocked:osc52"),
            ("m", "closed: shell_exited", "closed:shell_exited"),
            ("m", "incomplete", "incomplete"),
            ("m", "egress.blocked SECRET-Text here", "egress_blocked"),
            ("m", "closed: Secret Text", "closed"),
            ("m", "anything the customer printed", "marker"),
        ],
    )
    def test_kinds(self, code: str, data: str, kind: str) -> None:
        """Known markers give their code; anything else a generic kind."""
        assert marker_kind(code, data) == kind


def long_recording(state: Path, seconds: int = 60) -> Path:
    """A recording with a numbered line every second for ``seconds``."""
    recorder = make_store(state).open(make_session("s-long"))
    recorder.start("xterm", 80, 24)
    lines = [json.dumps([float(t), "o", f"line {t}\r\n"]) for t in range(seconds)]
    recorder.close("shell_exited")
    path = recorder.path
    header, *rest = path.read_text().splitlines()
    path.write_text("\n".join([header, *lines, *rest[-1:]]) + "\n")
    return path


class TestSnapshotsFile:
    """Kept beside the recording, in its region; rebuilt when missing or stale."""

    def test_written_beside_and_reused(self, tmp_path: Path) -> None:
        """The first load writes them; the next reads them back equal."""
        path = long_recording(tmp_path)
        first = load(path, REGION)
        beside = path.with_name(path.name + SUFFIX)
        assert beside.is_file()
        assert len(first.snapshots) >= 60 // SNAPSHOT_EVERY
        assert load(path, REGION).snapshots == first.snapshots

    def test_snapshot_matches_playing_from_the_start(self, tmp_path: Path) -> None:
        """A snapshot's screen equals the screen after playing every event before it."""
        recording = load(long_recording(tmp_path), REGION)
        snap = recording.snapshot_before(35.0)
        played = ViewScreen(80, 24, 0)
        stream = ViewStream(played)
        for _, code, data in recording.events[: snap.index]:
            snapshots.apply(played, stream, code, data)
        assert same(played, screen_after(snap.screen, 80, 24))

    @pytest.mark.parametrize("damage", ["missing", "stale", "garbage"])
    def test_rebuilt(self, tmp_path: Path, damage: str) -> None:
        """A missing, stale (recording grew) or unreadable file is rebuilt the same."""
        path = long_recording(tmp_path)
        good = load(path, REGION).snapshots
        beside = path.with_name(path.name + SUFFIX)
        if damage == "missing":
            beside.unlink()
        elif damage == "garbage":
            beside.write_bytes(b"\x00not json\n")
        else:
            header = json.loads(beside.read_text().splitlines()[0])
            beside.write_text(json.dumps(header | {"cast_bytes": 1}) + "\n")
        assert load(path, REGION).snapshots == good
        assert json.loads(beside.read_text().splitlines()[0])["cast_bytes"] == path.stat().st_size

    def test_unwritable_snapshots_serve_from_memory(self, tmp_path: Path) -> None:
        """When the file cannot be written (a folder in its way) the snapshots still
        serve, and no partial file is left behind."""
        path = long_recording(tmp_path)
        path.with_name(path.name + SUFFIX).mkdir()
        recording = load(path, REGION)
        assert len(recording.snapshots) > 1
        assert not any(p.name.endswith(".partial") for p in path.parent.iterdir())

    def test_other_region_refused(self, tmp_path: Path) -> None:
        """A recording whose header names another region is not loaded."""
        path = long_recording(tmp_path)
        with pytest.raises(RegionMismatch):
            load(path, "us-east-1")  # type: ignore[arg-type]
