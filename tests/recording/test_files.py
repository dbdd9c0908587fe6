"""Reading recordings, repairing killed ones, replaying, and asciinema compatibility."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from broker.errors import InputError, NotFoundError, RegionMismatch
from broker.recording import castfile
from broker.recording.files import (
    iter_events,
    list_region,
    locate,
    mark_incomplete,
    read_info,
    region_recording,
)
from broker.recording.replay import replay
from tests.recording.test_recorder import REGION, events, make_session, make_store

ROOT = Path(__file__).resolve().parents[2]
ASCIINEMA = Path(sys.executable).parent / "asciinema"
OSC52 = "\x1b]52;c;c2VjcmV0\x07"
KILLED = "killed-1"

WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from broker.clock import SystemClock
from broker.recording.recorder import RecordingStore
from broker.models import Session
state, region = Path(sys.argv[1]), sys.argv[2]
now = datetime.now(UTC)
session = Session("killed-1", "org-de", "T-1001", "eng-de-1", "app-1", region,
                  "intra-eea", "connected", now, now + timedelta(minutes=15))
recorder = RecordingStore(state, region, SystemClock(), min_free_bytes=0).open(session)
recorder.start("xterm", 80, 24)
for i in range(50):
    recorder.output(f"line {i}\\r\\n".encode())
    recorder.input(b"k")
recorder.marker("egress.blocked osc52 offset=0 length=9")
recorder.flush()
recorder.output(b"maybe lost")
print("ready", flush=True)
sys.stdin.read()
"""


def killed_recording(state: Path, region: str = REGION) -> Path:
    """Run a writer in a child process and SIGKILL it mid-session; the file it left."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(state), region],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == b"ready\n"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        assert child.stdin is not None
        child.stdin.close()
    assert child.returncode == -signal.SIGKILL
    return castfile.recording_path(state, region, KILLED)


def normal_recording(state: Path) -> Path:
    """Output, a resize and the close marker."""
    recorder = make_store(state).open(make_session("normal-1"))
    recorder.start("xterm-256color", 80, 24)
    recorder.output("hello wörld 日本\r\n".encode())
    recorder.resize(100, 30)
    recorder.close("shell_exited")
    return recorder.path


def marker_recording(state: Path) -> Path:
    """Blocked-sequence markers between output."""
    recorder = make_store(state).open(make_session("markers-1"))
    recorder.start("xterm", 80, 24)
    recorder.output(b"before\r\n")
    recorder.marker("egress.blocked osc52 offset=8 length=20")
    recorder.marker("egress.blocked zmodem offset=30 length=6")
    recorder.output(b"after\r\n")
    recorder.close("revoked")
    return recorder.path


def input_recording(state: Path) -> Path:
    """Keystrokes interleaved with echoed output."""
    recorder = make_store(state).open(make_session("input-1"))
    recorder.start("xterm", 80, 24)
    for key in "ls\r":
        recorder.input(key.encode())
        recorder.output(key.encode())
    recorder.output(b"file.txt\r\n")
    recorder.close("idle_timeout")
    return recorder.path


def incomplete_recording(state: Path) -> Path:
    """A killed writer's file, repaired as the next gateway start does."""
    path = killed_recording(state)
    assert mark_incomplete(state / "regions" / REGION) == [path]
    return path


KINDS: dict[str, Callable[[Path], Path]] = {
    "normal": normal_recording,
    "markers": marker_recording,
    "input": input_recording,
    "incomplete": incomplete_recording,
}


def run_asciinema(args: list[str], tmp: Path) -> subprocess.CompletedProcess[bytes]:
    """Run asciinema detached from any terminal, with a private config home."""
    env = {**os.environ, "ASCIINEMA_CONFIG_HOME": str(tmp / "asciinema")}
    return subprocess.run(
        args,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        timeout=120,
        start_new_session=True,
        check=False,
    )


def output_text(path: Path) -> str:
    """The recording's output events joined."""
    return "".join(e[2] for e in events(path, "o"))


class TestAsciinema:
    """``asciinema cat`` and ``asciinema play`` read every kind of recording we write."""

    @pytest.mark.parametrize("kind", sorted(KINDS))
    def test_cat(self, tmp_path: Path, kind: str) -> None:
        """``asciinema cat`` exits 0 and prints exactly the output events."""
        path = KINDS[kind](tmp_path / "state")
        done = run_asciinema([str(ASCIINEMA), "cat", str(path)], tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode("utf-8") == output_text(path)

    @pytest.mark.parametrize("kind", sorted(KINDS))
    def test_play_in_a_pty(self, tmp_path: Path, kind: str) -> None:
        """``asciinema play`` on a real pty (via ``script``) exits 0 and shows the output."""
        path = KINDS[kind](tmp_path / "state")
        command = f"{shlex.quote(str(ASCIINEMA))} play -s 1000 -i 0.001 {shlex.quote(str(path))}"
        done = run_asciinema(["script", "-qec", command, "/dev/null"], tmp_path)
        assert done.returncode == 0, done.stderr
        shown = done.stdout.decode("utf-8").replace("\r\n", "\n")
        last_line = output_text(path).replace("\r\n", "\n").strip().splitlines()[-1]
        assert last_line in shown

    @pytest.mark.parametrize("kind", sorted(KINDS))
    def test_play_parses_every_event(self, tmp_path: Path, kind: str) -> None:
        """asciinema's own parser yields our header and every event, i/r/m included."""
        path = KINDS[kind](tmp_path / "state")
        args = [str(ASCIINEMA), "play", "--out-fmt", "asciicast", "-s", "1000", str(path)]
        done = run_asciinema(args, tmp_path)
        assert done.returncode == 0, done.stderr
        parsed = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines() if line]
        ours = [json.loads(line) for line in path.read_bytes().splitlines()]
        assert parsed[0] == ours[0]
        assert [e[1:] for e in parsed[1:]] == [e[1:] for e in ours[1:]]


class TestKilledWriter:
    """A SIGKILLed gateway leaves a recording valid up to the last flush."""

    def test_valid_until_last_flush_then_marked(self, tmp_path: Path) -> None:
        """Every flushed event survives; the next start appends one ``incomplete`` marker."""
        state = tmp_path / "state"
        path = killed_recording(state)
        before = list(iter_events(path))
        assert before[-1][1:] != ("m", castfile.INCOMPLETE)
        assert sum(1 for e in before if e[1] == "o") >= 50
        assert mark_incomplete(state / "regions" / REGION) == [path]
        after = list(iter_events(path))
        assert after[:-1] == before
        assert after[-1] == (before[-1][0], "m", castfile.INCOMPLETE)
        assert "line 49\r\n" in output_text(path)
        assert mark_incomplete(state / "regions" / REGION) == []

    def test_only_the_named_sessions_are_marked(self, tmp_path: Path) -> None:
        """A replica taking over a dead sibling marks that sibling's files only."""
        state = tmp_path / "state"
        path = killed_recording(state)
        assert mark_incomplete(state / "regions" / REGION, only={"another-1"}) == []
        assert mark_incomplete(state / "regions" / REGION, only={path.stem}) == [path]

    def test_marked_file_is_ready_for_upload_at_once(self, tmp_path: Path) -> None:
        """A marked file gets the ``.done`` marker: the uploader need not wait for quiet."""
        state = tmp_path / "state"
        path = killed_recording(state)
        done = path.with_name(path.name + castfile.DONE_SUFFIX)
        assert not done.exists()
        mark_incomplete(state / "regions" / REGION)
        assert done.exists()

    def test_torn_last_line_is_cut(self, tmp_path: Path) -> None:
        """A half-written last line is removed before the marker is appended."""
        state = tmp_path / "state"
        path = killed_recording(state)
        whole = path.read_bytes()
        with path.open("ab") as stream:
            stream.write(b'[9.5, "o", "half a li')
        mark_incomplete(state / "regions" / REGION)
        data = path.read_bytes()
        assert data.startswith(whole)
        assert b"half a li" not in data
        assert json.loads(data.splitlines()[-1])[1:] == ["m", "incomplete"]

    def test_garbled_line_is_cut(self, tmp_path: Path) -> None:
        """A whole but unreadable last line is dropped too."""
        path = normal_recording(tmp_path)
        data = path.read_bytes().rsplit(b"\n", 2)[0] + b"\n"  # drop the close marker
        path.write_bytes(data + b"\x00\x00garbage\n")
        mark_incomplete(tmp_path / "regions" / REGION)
        assert path.read_bytes() == data + castfile.event_line(
            json.loads(data.splitlines()[-1])[0], "m", "incomplete"
        )

    @pytest.mark.parametrize("content", [b"", b'{"version": 2, "wid'])
    def test_headerless_file_gets_minimal_header(self, tmp_path: Path, content: bytes) -> None:
        """A file killed before its header was written becomes a valid, marked recording."""
        folder = tmp_path / "regions" / REGION / "recordings"
        folder.mkdir(parents=True)
        path = folder / "early-1.cast"
        path.write_bytes(content)
        assert mark_incomplete(tmp_path / "regions" / REGION, timestamp=1234) == [path]
        header, *rest = [json.loads(line) for line in path.read_bytes().splitlines()]
        assert header["session_id"] == "early-1"
        assert header["region"] == REGION
        assert header["timestamp"] == 1234
        assert set(header) <= set(castfile.HEADER_KEYS)
        assert rest == [[0.0, "m", "incomplete"]]

    def test_closed_and_live_files_untouched(self, tmp_path: Path) -> None:
        """A closed recording and one a live writer holds are both left alone."""
        closed = normal_recording(tmp_path)
        live = make_store(tmp_path).open(make_session("live-1"))
        live.output(b"typing")
        live.flush()
        snapshot = {p: p.read_bytes() for p in (closed, live.path)}
        assert mark_incomplete(tmp_path / "regions" / REGION) == []
        assert {p: p.read_bytes() for p in snapshot} == snapshot
        live.close("done")

    def test_unopenable_entry_skipped(self, tmp_path: Path) -> None:
        """A folder named like a recording is skipped; the others are still repaired."""
        path = killed_recording(tmp_path)
        (path.parent / "aaa-dir.cast").mkdir()
        assert mark_incomplete(tmp_path / "regions" / REGION) == [path]

    def test_missing_folder_is_fine(self, tmp_path: Path) -> None:
        """A region with no recordings yet has nothing to repair."""
        assert mark_incomplete(tmp_path / "regions" / REGION) == []


class TestLocate:
    """A recording is read only from its own region's folder."""

    def test_found_in_its_region(self, tmp_path: Path) -> None:
        """Scanning finds the file and reports the folder's region."""
        path = normal_recording(tmp_path)
        assert locate(tmp_path, "normal-1") == (REGION, path)
        assert locate(tmp_path, "normal-1", REGION) == (REGION, path)

    def test_wrong_region_not_found(self, tmp_path: Path) -> None:
        """Asking in another region's folder finds nothing."""
        normal_recording(tmp_path)
        with pytest.raises(NotFoundError):
            locate(tmp_path, "normal-1", "us-east-1")
        with pytest.raises(NotFoundError):
            region_recording(tmp_path, "us-east-1", "normal-1")

    def test_moved_file_refused(self, tmp_path: Path) -> None:
        """A file copied into another region's folder is refused: its header says otherwise."""
        path = normal_recording(tmp_path)
        other = tmp_path / "regions" / "us-east-1" / "recordings"
        other.mkdir(parents=True)
        path.rename(other / path.name)
        with pytest.raises(RegionMismatch):
            locate(tmp_path, "normal-1")

    def test_in_two_regions_refused(self, tmp_path: Path) -> None:
        """The same session in two folders is ambiguous and refused."""
        path = normal_recording(tmp_path)
        other = tmp_path / "regions" / "us-east-1" / "recordings"
        other.mkdir(parents=True)
        (other / path.name).write_bytes(path.read_bytes())
        with pytest.raises(RegionMismatch) as caught:
            locate(tmp_path, "normal-1")
        assert caught.value.code == "recording_ambiguous"

    def test_symlink_refused(self, tmp_path: Path) -> None:
        """A symlink in the folder is not followed."""
        path = normal_recording(tmp_path)
        (path.parent / "link-1.cast").symlink_to(path)
        with pytest.raises(NotFoundError):
            region_recording(tmp_path, REGION, "link-1")

    def test_symlinked_folder_refused(self, tmp_path: Path) -> None:
        """A region's recordings folder that is a symlink is not read through."""
        elsewhere = normal_recording(tmp_path / "other").parent
        folder = tmp_path / "regions" / REGION / "recordings"
        folder.parent.mkdir(parents=True)
        folder.symlink_to(elsewhere)
        with pytest.raises(NotFoundError):
            region_recording(tmp_path, REGION, "normal-1")

    @pytest.mark.parametrize("bad", ["../x", "a/b", "..", "", "*"])
    def test_bad_session_id(self, tmp_path: Path, bad: str) -> None:
        """Ids that could walk out of the folder or glob are rejected, naming the field."""
        with pytest.raises(InputError) as caught:
            locate(tmp_path, bad)
        assert caught.value.field == "session_id"

    @pytest.mark.parametrize("bad", ["../etc", "EU-CENTRAL-1", "x"])
    def test_bad_region(self, tmp_path: Path, bad: str) -> None:
        """A region that is not a region code is rejected before any path is built."""
        with pytest.raises(InputError):
            locate(tmp_path, "s-1", bad)


class TestReadInfo:
    """Metadata and markers for ``show``."""

    def test_counts_markers_final(self, tmp_path: Path) -> None:
        """Event counts, the markers in order, and the closing marker."""
        path = marker_recording(tmp_path)
        info = read_info(path, REGION)
        assert info.counts == {"o": 2, "m": 3}
        assert [m.text for m in info.markers] == [
            "egress.blocked osc52 offset=8 length=20",
            "egress.blocked zmodem offset=30 length=6",
            "closed: revoked",
        ]
        assert info.final == "closed: revoked"
        data: dict[str, Any] = info.to_dict()
        assert data["session_id"] == "markers-1"
        assert data["region"] == REGION

    @pytest.mark.parametrize("stamp", [10**20, -(10**20), 1e300])
    def test_unrepresentable_start_is_none(self, tmp_path: Path, stamp: float) -> None:
        """A header timestamp no datetime can hold shows no start instead of failing."""
        path = normal_recording(tmp_path)
        lines = path.read_bytes().split(b"\n", 1)
        header = json.loads(lines[0]) | {"timestamp": stamp}
        path.write_bytes(json.dumps(header).encode() + b"\n" + lines[1])
        data = read_info(path, REGION).to_dict()
        assert data["started"] is None
        assert data["timestamp"] == stamp

    def test_open_recording_has_no_final(self, tmp_path: Path) -> None:
        """A recording still being written reads fine, without a final marker."""
        recorder = make_store(tmp_path).open(make_session("open-1"))
        recorder.output(b"x")
        recorder.flush()
        assert read_info(recorder.path, REGION).final is None
        recorder.close("done")

    def test_list_region(self, tmp_path: Path) -> None:
        """Listing a region returns its recordings only."""
        normal_recording(tmp_path)
        input_recording(tmp_path)
        other = make_store(tmp_path, "us-east-1").open(make_session("us-1", "us-east-1"))
        other.close("done")
        names = [info.header["session_id"] for info in list_region(tmp_path, REGION)]
        assert names == ["input-1", "normal-1"]


class TestReplay:
    """Replay output passes the egress filter again."""

    def test_osc52_removed(self) -> None:
        """A clipboard write in an old recording never reaches the viewer."""
        shown: list[bytes] = []
        result = replay(
            [(0.0, "o", f"a{OSC52}b"), (0.1, "i", "x"), (0.2, "o", "c")],
            shown.append,
            lambda _s: None,
        )
        assert b"".join(shown) == b"abc"
        assert [str(b) for b in result.blocked] == ["osc52"]
        assert result.shown == 2

    def test_pauses_scaled_and_capped(self) -> None:
        """Gaps are divided by the speed and capped at ``max_wait``."""
        pauses: list[float] = []
        events_in = [(0.0, "o", "a"), (4.0, "o", "b"), (5.0, "o", "c")]
        replay(events_in, lambda _b: None, pauses.append, speed=2.0, max_wait=1.5)
        assert pauses == [1.5, 0.5]

    def test_bad_speed(self) -> None:
        """A speed of zero is refused."""
        with pytest.raises(ValueError, match="speed"):
            replay([], lambda _b: None, lambda _s: None, speed=0)
