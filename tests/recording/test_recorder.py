"""The asciicast v2 writer: header, events, flushing, closing and fail-closed opening."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import itertools
import json
import os
import stat
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.clock import FakeClock
from broker.errors import ConflictError, RegionMismatch, UnavailableError
from broker.models import Session
from broker.recording import castfile
from broker.recording.recorder import (
    COALESCE_SECONDS,
    FLUSH_INTERVAL,
    RecordingStore,
    SessionRecorder,
)
from broker.typing import OrgId, Region, SessionId, StaffId, TargetName, TicketId

REGION = Region("eu-central-1")
START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,39}", fullmatch=True)


def make_session(
    session_id: str = "s-1",
    region: str = REGION,
    org: str = "org-de",
    ticket: str = "T-1001",
    staff: str = "eng-de-1",
) -> Session:
    """A connected session with the given ids."""
    return Session(
        SessionId(session_id),
        OrgId(org),
        TicketId(ticket),
        StaffId(staff),
        TargetName("app-1"),
        Region(region),
        "intra-eea",
        "connected",
        START,
        START + timedelta(minutes=15),
    )


def make_store(state: Path, region: str = REGION, **options: Any) -> RecordingStore:
    """A store over ``state`` with a fake clock and no free-space floor."""
    options.setdefault("min_free_bytes", 0)
    return RecordingStore(state, Region(region), FakeClock(START), **options)


def lines(path: Path) -> list[Any]:
    """Every JSON line of a file (header first)."""
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def events(path: Path, code: str | None = None) -> list[list[Any]]:
    """The event lines of a recording, optionally of one code."""
    return [e for e in lines(path)[1:] if code is None or e[1] == code]


class Ticker:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestHeader:
    """The first line: asciicast v2, terminal, start time and ids only."""

    def test_header_fields(self, tmp_path: Path) -> None:
        """Width, height, timestamp, TERM and the session's ids are written."""
        recorder = make_store(tmp_path).open(make_session())
        recorder.start("xterm-256color", 132, 43)
        recorder.close("shell_exited")
        header = lines(recorder.path)[0]
        assert header == {
            "version": 2,
            "width": 132,
            "height": 43,
            "timestamp": int(START.timestamp()),
            "env": {"TERM": "xterm-256color"},
            "session_id": "s-1",
            "ticket_id": "T-1001",
            "org_id": "org-de",
            "staff_id": "eng-de-1",
            "region": "eu-central-1",
            "record_input": True,
        }

    @settings(max_examples=40, deadline=None)
    @given(session_id=IDS, org=IDS, ticket=IDS, staff=IDS, term=st.text(max_size=80))
    def test_header_has_only_documented_keys(
        self, session_id: str, org: str, ticket: str, staff: str, term: str
    ) -> None:
        """Whatever the ids and TERM, the header has exactly the documented keys."""
        with tempfile.TemporaryDirectory() as tmp:
            session = make_session(session_id, REGION, org, ticket, staff)
            recorder = make_store(Path(tmp)).open(session)
            recorder.start(term, 80, 24)
            recorder.close("done")
            header = lines(recorder.path)[0]
        assert set(header) == set(castfile.HEADER_KEYS)
        assert set(header["env"]) == {"TERM"}
        ids = (header["session_id"], header["org_id"], header["ticket_id"], header["staff_id"])
        assert ids == (session_id, org, ticket, staff)
        assert header["env"]["TERM"] in (term, "unknown")

    @pytest.mark.parametrize("term", ["x" * 65, "xterm\x1b]52;c;QQ==\x07", "", None])
    def test_odd_term_becomes_unknown(self, tmp_path: Path, term: str | None) -> None:
        """A long, empty or control-laden TERM from the client is not copied."""
        recorder = make_store(tmp_path).open(make_session())
        recorder.start(term, 80, 24)
        recorder.close("done")
        assert lines(recorder.path)[0]["env"] == {"TERM": "unknown"}

    def test_event_before_start_gets_default_header(self, tmp_path: Path) -> None:
        """Output before ``start`` still yields a valid file (80x24); a late start is ignored."""
        recorder = make_store(tmp_path).open(make_session())
        recorder.output(b"early")
        recorder.start("xterm", 200, 50)
        recorder.close("done")
        header, first = lines(recorder.path)[:2]
        assert (header["width"], header["height"], header["env"]["TERM"]) == (80, 24, "unknown")
        assert first[1:] == ["o", "early"]


class TestEvents:
    """Output, input, resize and markers."""

    def test_every_kind_in_order(self, tmp_path: Path) -> None:
        """Each call becomes one event of its code; the close marker is last."""
        recorder = make_store(tmp_path).open(make_session())
        recorder.start("xterm", 80, 24)
        recorder.output(b"$ ")
        recorder.input(b"ls\r")
        recorder.resize(120, 40)
        recorder.marker("egress.blocked osc52 offset=0 length=9")
        recorder.close("shell_exited")
        got = [e[1:] for e in events(recorder.path)]
        assert got == [
            ["o", "$ "],
            ["i", "ls\r"],
            ["r", "120x40"],
            ["m", "egress.blocked osc52 offset=0 length=9"],
            ["m", "closed: shell_exited"],
        ]
        times = [e[0] for e in events(recorder.path)]
        assert times == sorted(times)

    @settings(max_examples=60, deadline=None)
    @given(text=st.text(min_size=1, max_size=60), cuts=st.lists(st.integers(0, 240), max_size=8))
    def test_split_utf8_stays_whole(self, text: str, cuts: list[int]) -> None:
        """Output cut at any byte, even inside a character, decodes to the same text."""
        data = text.encode("utf-8")
        points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
        with tempfile.TemporaryDirectory() as tmp:
            recorder = make_store(Path(tmp)).open(make_session())
            for a, b in itertools.pairwise(points):
                recorder.output(data[a:b])
            recorder.close("done")
            out = "".join(e[2] for e in events(recorder.path, "o"))
        assert out == text

    def test_invalid_utf8_is_replaced(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 become U+FFFD; a cut character at close too."""
        recorder = make_store(tmp_path).open(make_session())
        recorder.output(b"a\xffb\xe2\x82")
        recorder.close("done")
        assert "".join(e[2] for e in events(recorder.path, "o")) == "a\ufffdb\ufffd"

    def test_input_off_for_org(self, tmp_path: Path) -> None:
        """With ``record_input=False`` no keystroke is written and the header says so."""
        recorder = make_store(tmp_path).open(make_session())
        recorder.start("xterm", 80, 24, record_input=False)
        recorder.input(b"secret\r")
        recorder.output(b"ok")
        recorder.close("done")
        assert lines(recorder.path)[0]["record_input"] is False
        assert events(recorder.path, "i") == []
        assert b"secret" not in recorder.path.read_bytes()

    @pytest.mark.parametrize(("width", "height"), [(0, 24), (80, 0), (-1, 5)])
    def test_nonsense_resize_is_ignored(self, tmp_path: Path, width: int, height: int) -> None:
        """A zero or negative size is not recorded."""
        recorder = make_store(tmp_path).open(make_session())
        recorder.resize(width, height)
        recorder.close("done")
        assert events(recorder.path, "r") == []


class TestClose:
    """The final marker, fsync and what happens after."""

    def test_close_is_final_and_idempotent(self, tmp_path: Path) -> None:
        """Events after close are dropped; a second close writes nothing."""
        recorder = make_store(tmp_path).open(make_session())
        recorder.output(b"x")
        recorder.close("revoked")
        recorder.output(b"late")
        recorder.marker("late")
        recorder.close("again")
        last = events(recorder.path)[-1]
        assert last[1:] == ["m", "closed: revoked"]
        assert castfile.is_final((last[0], last[1], last[2]))
        assert b"late" not in recorder.path.read_bytes()
        assert recorder.closed

    def test_digest_and_size_match_file(self, tmp_path: Path) -> None:
        """``sha256`` and ``bytes_written`` describe the closed file exactly."""
        recorder = make_store(tmp_path).open(make_session())
        recorder.output(b"hello\r\n")
        recorder.close("done")
        data = recorder.path.read_bytes()
        assert recorder.sha256 == hashlib.sha256(data).hexdigest()
        assert recorder.bytes_written == len(data)

    def test_write_failure_reports_once(self, tmp_path: Path) -> None:
        """A full disk stops recording and calls ``on_failure`` once, so the relay can cut."""
        fd = os.open("/dev/full", os.O_WRONLY)
        recorder = SessionRecorder(fd, tmp_path / "x.cast", make_session(), FakeClock(START))
        seen: list[OSError] = []
        recorder.on_failure = seen.append
        recorder.start("xterm", 80, 24)
        recorder.output(b"more")
        recorder.close("done")
        assert len(seen) == 1
        assert recorder.failed is not None
        assert recorder.closed


class TestFlushing:
    """Buffered events reach the file within the flush interval."""

    def test_time_check_flushes(self, tmp_path: Path) -> None:
        """An event after ``FLUSH_INTERVAL`` of (fake) monotonic time flushes the buffer."""
        ticker = Ticker()
        recorder = make_store(tmp_path, monotonic=ticker).open(make_session())
        recorder.start("xterm", 80, 24)
        recorder.output(b"one")
        assert events(recorder.path) == []
        ticker.now += FLUSH_INTERVAL
        recorder.output(b"two")
        assert [e[2] for e in events(recorder.path)] == ["one", "two"]
        recorder.close("done")

    def test_large_buffer_flushes(self, tmp_path: Path) -> None:
        """More than the buffer limit is written without waiting."""
        recorder = make_store(tmp_path, monotonic=Ticker()).open(make_session())
        recorder.output(b"y" * (70 * 1024))
        assert len(events(recorder.path, "o")) == 1
        recorder.close("done")

    async def test_loop_timer_flushes(self, tmp_path: Path) -> None:
        """Inside an event loop a timer flushes a lone event with no further writes."""
        recorder = make_store(tmp_path, monotonic=Ticker()).open(make_session())
        recorder.start("xterm", 80, 24)
        recorder.output(b"lonely")
        for _ in range(200):
            if events(recorder.path):
                break
            await asyncio.sleep(0.05)
        assert [e[2] for e in events(recorder.path)] == ["lonely"]
        recorder.close("done")


class TestRecordingStore:
    """Opening: the region's folder only, exclusive, private, fail closed."""

    @pytest.mark.parametrize("region", ["eu-central-1", "us-east-1", "eu-west-2"])
    def test_path_and_modes(self, tmp_path: Path, region: str) -> None:
        """The file is ``regions/<region>/recordings/<id>.cast``, 0600 in a 0700 folder."""
        recorder = make_store(tmp_path, region).open(make_session("s-9", region))
        recorder.close("done")
        expected = tmp_path / "regions" / region / "recordings" / "s-9.cast"
        assert recorder.path == expected
        assert stat.S_IMODE(expected.stat().st_mode) == 0o600
        assert stat.S_IMODE(expected.parent.stat().st_mode) == 0o700
        others = [p for p in tmp_path.rglob("*.cast") if p != expected]
        assert others == []

    def test_factory_call_opens(self, tmp_path: Path) -> None:
        """Calling the store (``RecorderFactory``) opens the session's recording."""
        recorder = make_store(tmp_path)(make_session())
        recorder.close("done")
        assert recorder.path.is_file()

    def test_other_region_refused(self, tmp_path: Path) -> None:
        """A gateway's store will not record another region's session, anywhere."""
        with pytest.raises(RegionMismatch) as caught:
            make_store(tmp_path, "eu-central-1").open(make_session(region="us-east-1"))
        assert caught.value.code == "recording_region"
        assert list(tmp_path.rglob("*.cast")) == []

    @pytest.mark.parametrize("blocker", ["recordings", "region", "regions"])
    def test_unwritable_folder_refused(self, tmp_path: Path, blocker: str) -> None:
        """A regular file where a folder must be makes opening fail with recording_unwritable."""
        target = {
            "recordings": tmp_path / "regions" / REGION / "recordings",
            "region": tmp_path / "regions" / REGION,
            "regions": tmp_path / "regions",
        }[blocker]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("not a folder")
        with pytest.raises(UnavailableError) as caught:
            make_store(tmp_path).open(make_session())
        assert caught.value.code == "recording_unwritable"
        assert caught.value.ids["region"] == REGION

    def test_symlinked_folder_refused(self, tmp_path: Path) -> None:
        """A recordings folder that is a symlink (it could point anywhere) is refused."""
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        folder = tmp_path / "regions" / REGION / "recordings"
        folder.parent.mkdir(parents=True)
        folder.symlink_to(elsewhere)
        with pytest.raises(UnavailableError):
            make_store(tmp_path).open(make_session())
        assert list(elsewhere.iterdir()) == []

    def test_short_of_space_refused(self, tmp_path: Path) -> None:
        """Below the free-space floor the session is refused."""
        store = make_store(tmp_path, min_free_bytes=1 << 62)
        with pytest.raises(UnavailableError) as caught:
            store.open(make_session())
        assert caught.value.code == "recording_unwritable"

    def test_existing_recording_kept(self, tmp_path: Path) -> None:
        """A second open for the same session conflicts and leaves the first file intact."""
        store = make_store(tmp_path)
        first = store.open(make_session())
        first.output(b"original")
        first.close("done")
        before = first.path.read_bytes()
        with pytest.raises(ConflictError) as caught:
            store.open(make_session())
        assert caught.value.code == "recording_exists"
        assert first.path.read_bytes() == before

    def test_writer_holds_lock(self, tmp_path: Path) -> None:
        """While open, the file is flock-ed, so startup repair leaves it alone."""
        recorder = make_store(tmp_path).open(make_session())
        fd = os.open(recorder.path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            recorder.close("done")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


class TestCoalescing:
    """Bulk output becomes few events; order and content are kept."""

    def test_close_chunks_merge_far_chunks_do_not(self, tmp_path: Path) -> None:
        """Chunks within COALESCE_SECONDS share one event; a later chunk starts another."""
        ticker = Ticker()
        recorder = make_store(tmp_path, monotonic=ticker).open(make_session())
        recorder.start("xterm", 80, 24)
        for chunk in (b"a", b"b", b"c"):
            recorder.output(chunk)
            ticker.now += COALESCE_SECONDS / 10
        ticker.now += COALESCE_SECONDS
        recorder.output(b"d")
        recorder.marker("m-1")
        recorder.output(b"e")
        recorder.close("done")
        kinds = [(e[1], e[2]) for e in events(recorder.path)]
        assert kinds == [("o", "abc"), ("o", "d"), ("m", "m-1"), ("o", "e"), ("m", "closed: done")]
