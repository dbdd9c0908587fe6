"""Session recording: an asciicast v2 file written while the session runs.

``RecordingStore`` is the gateway's ``RecorderFactory``: calling it with a
session opens ``<state>/regions/<region>/recordings/<session-id>.cast``
(folder 0700, file 0600, created exclusively) or raises, so a session that
cannot be recorded is refused before it carries a byte (fail closed).

``SessionRecorder`` buffers whole event lines and writes them with ``os.write``
at most ``FLUSH_INTERVAL`` after the first buffered event (a loop timer, plus
a time check on every event), so a killed gateway leaves a file valid up to
the last flush. ``close`` writes the final ``closed: <reason>`` marker,
fsyncs, and creates the sibling ``<id>.cast.done`` marker the uploader waits
for. The writer holds an exclusive ``flock`` on the file for its life: the
next gateway start repairs only files nobody holds (``files``).

Output and input are decoded with incremental UTF-8 decoders
(``errors="replace"``), so a character split across reads stays whole.
"""

from __future__ import annotations

import asyncio
import codecs
import fcntl
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from broker.clock import Clock
from broker.errors import ConflictError, RegionMismatch, UnavailableError
from broker.models import Session
from broker.recording import castfile
from broker.typing import Region

FLUSH_INTERVAL = 0.5
"""Seconds an event may wait in memory; the issue asks for at most one."""
MAX_BUFFERED = 64 * 1024
COALESCE_SECONDS = 0.01
"""Output chunks closer together than this become one ``"o"`` event: a bulk
stream then costs one JSON encoding per ~64 KiB instead of per SSH packet, and
a replay cannot tell the difference."""
COALESCE_CHARS = 64 * 1024
MIN_FREE_BYTES = 16 * 1024 * 1024
"""Free space the recording folder must have for a session to start."""
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC


class SessionRecorder:
    """Writes one session's recording; implements the gateway's ``Recorder``."""

    def __init__(
        self,
        fd: int,
        path: Path,
        session: Session,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.session = session
        self.record_input = True
        self.on_failure: Callable[[OSError], None] | None = None
        """Called once if the file cannot be written: the relay should end the session."""
        self.bytes_written = 0
        self._fd: int | None = fd
        self._timestamp = int(clock.now().timestamp())
        self._monotonic = monotonic
        self._t0 = self._last_flush = monotonic()
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._pending_out: list[str] = []
        self._pending_chars = 0
        self._pending_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._started = self._closed = False
        self.failed: OSError | None = None
        self._hash = hashlib.sha256()
        self._out = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._in = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def closed(self) -> bool:
        """True once ``close`` ran or a write failed; later events are dropped."""
        return self._closed or self.failed is not None

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of every byte written so far (the whole file once closed)."""
        return self._hash.hexdigest()

    def start(
        self,
        term: str | None,
        width: int,
        height: int,
        *,
        record_input: bool | None = None,
        shell: str | None = None,
    ) -> None:
        """Write the header (terminal type and size from the PTY request) and flush it.

        Call once, right after the factory, before any event. Events that come
        first get a header with 80x24 and TERM ``unknown``; a later ``start``
        is then ignored.
        """
        if self._started or self.closed:
            return
        if record_input is not None:
            self.record_input = record_input
        self._started = True
        size = (width, height) if width > 0 and height > 0 else castfile.DEFAULT_SIZE
        header = castfile.build_header(
            self.session,
            size=size,
            timestamp=self._timestamp,
            term=term,
            record_input=self.record_input,
            shell=shell,
        )
        self._append(castfile.encode(header))
        self.flush()

    def output(self, data: bytes) -> None:
        """Filtered terminal output, as the engineer saw it (close chunks coalesce)."""
        text = self._out.decode(data)
        if not text or self.closed:
            return
        if not self._started:
            self.start(None, *castfile.DEFAULT_SIZE)
        now = self._monotonic()
        if self._pending_out and now - self._pending_at >= COALESCE_SECONDS:
            self._append_output()
        if not self._pending_out:
            self._pending_at = now
        self._pending_out.append(text)
        self._pending_chars += len(text)
        big = self._pending_chars >= COALESCE_CHARS or self._buffered >= MAX_BUFFERED
        if big or now - self._last_flush >= FLUSH_INTERVAL:
            self.flush()
        else:
            self._arm()

    def _append_output(self) -> None:
        """Buffer the coalesced output as one event stamped with its first chunk's time."""
        if self._pending_out:
            self._append(castfile.event_line(self._pending_at - self._t0, "o", self._take_output()))

    def _take_output(self) -> str:
        """The coalesced output not yet written as an event (and forget it)."""
        text = "".join(self._pending_out)
        self._pending_out.clear()
        self._pending_chars = 0
        return text

    def input(self, data: bytes) -> None:
        """Keystrokes, unless the org turned input recording off."""
        if not self.record_input:
            return
        text = self._in.decode(data)
        if text:
            self._event("i", text)

    def resize(self, width: int, height: int) -> None:
        """A window change, as ``"WxH"``."""
        if width > 0 and height > 0:
            self._event("r", f"{width}x{height}")

    def marker(self, text: str) -> None:
        """A notable event: a blocked sequence, a warning."""
        self._event("m", text)

    def close(self, reason: str) -> None:
        """Write the final ``closed: <reason>`` marker, flush, fsync and close.

        Idempotent; events after it are dropped, so the marker stays last.
        """
        if self.closed:
            return
        tail_out, tail_in = self._out.decode(b"", final=True), self._in.decode(b"", final=True)
        tail_out = self._take_output() + tail_out
        if tail_out:
            self._event("o", tail_out)
        if tail_in and self.record_input:
            self._event("i", tail_in)
        self._event("m", castfile.CLOSED + reason)
        self.flush()
        self._closed = True
        self._release(sync=self.failed is None)
        if self.failed is None:
            self._mark_done()

    def flush(self) -> None:
        """Write buffered events to the file now (the OS keeps them if we die)."""
        self._cancel_timer()
        if self._started and not self.closed:
            self._append_output()
        if not self._buffer or self._fd is None:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        self._last_flush = self._monotonic()
        try:
            _write_all(self._fd, data)
        except OSError as error:
            self._fail(error)
            return
        self.bytes_written += len(data)
        self._hash.update(data)

    # -- internals -------------------------------------------------------
    def _event(self, code: str, data: str) -> None:
        """Buffer one event; flush when the buffer is old or large."""
        if self.closed:
            return
        if not self._started:
            self.start(None, *castfile.DEFAULT_SIZE)
        self._append_output()  # pending output first: keep the stream's order
        now = self._monotonic()
        self._append(castfile.event_line(now - self._t0, code, data))
        if self._buffered >= MAX_BUFFERED or now - self._last_flush >= FLUSH_INTERVAL:
            self.flush()
        else:
            self._arm()

    def _append(self, line: bytes) -> None:
        self._buffer.append(line)
        self._buffered += len(line)

    def _arm(self) -> None:
        """Schedule a flush on the running loop, if there is one and none is due."""
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a tool or a test): the time check on each event covers it
        self._timer = loop.call_later(FLUSH_INTERVAL, self.flush)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _mark_done(self) -> None:
        """The ``.done`` marker: the uploader may take the file now (``castfile.mark_done``)."""
        castfile.mark_done(self.path)

    def _fail(self, error: OSError) -> None:
        """Stop recording for good and tell the relay, which must end the session."""
        self.failed = error
        self._buffer.clear()
        self._release(sync=False)
        if self.on_failure is not None:
            self.on_failure(error)

    def _release(self, *, sync: bool) -> None:
        """fsync (when asked) and close the file; closing drops the lock."""
        self._cancel_timer()
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if sync:
                os.fsync(fd)
        except OSError as error:
            self.failed = error
        finally:
            os.close(fd)


class RecordingStore:
    """Opens recordings in one region's folder: the gateway's ``RecorderFactory``."""

    def __init__(
        self,
        state_dir: Path,
        region: Region,
        clock: Clock,
        *,
        min_free_bytes: int = MIN_FREE_BYTES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.region = region
        self.folder = castfile.region_recordings(self.state_dir, region)
        self._clock = clock
        self._min_free = min_free_bytes
        self._monotonic = monotonic

    def __call__(self, session: Session) -> SessionRecorder:
        """``RecorderFactory``: the same as ``open(session)``."""
        return self.open(session)

    def open(self, session: Session) -> SessionRecorder:
        """Create the session's recording, or raise so the session is refused.

        ``RegionMismatch`` for another region's session, ``ConflictError``
        (``recording_exists``) if it already has one, ``UnavailableError``
        (``recording_unwritable``) if the folder cannot be written or is short
        of space.
        """
        if session.region != self.region:
            raise RegionMismatch(
                "recording_region",
                "session belongs to another region's gateway",
                session_id=session.id,
                region=self.region,
            )
        path = castfile.recording_path(self.state_dir, self.region, session.id)
        fd = self._create(session, path)
        return SessionRecorder(fd, path, session, self._clock, self._monotonic)

    def prepare(self) -> Path:
        """Create the folder (0700) if needed; ``UnavailableError`` if it cannot be."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.folder.is_symlink() or not self.folder.is_dir():
                raise NotADirectoryError(str(self.folder))
            os.chmod(self.folder, 0o700)
        except OSError as error:
            raise self._unwritable(error) from error
        return self.folder

    def _create(self, session: Session, path: Path) -> int:
        """The new file's descriptor: exclusive, 0600, locked, entry fsynced."""
        self.prepare()
        self._check_space()
        try:
            fd = os.open(path, _OPEN_FLAGS, 0o600)
        except FileExistsError as error:
            raise ConflictError(
                "recording_exists", "session already has a recording", session_id=session.id
            ) from error
        except OSError as error:
            raise self._unwritable(error) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.fchmod(fd, 0o600)
            _fsync_dir(self.folder)
        except OSError as error:
            os.close(fd)
            raise self._unwritable(error) from error
        return fd

    def _check_space(self) -> None:
        try:
            stat = os.statvfs(self.folder)
        except OSError as error:
            raise self._unwritable(error) from error
        if stat.f_bavail * stat.f_frsize < self._min_free:
            raise UnavailableError(
                "recording_unwritable",
                "the region's recording folder is short of free space",
                region=self.region,
            )

    def _unwritable(self, error: OSError) -> UnavailableError:
        name = type(error).__name__
        return UnavailableError(
            "recording_unwritable",
            f"cannot write the region's recording folder ({name})",
            region=self.region,
        )


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a short write is legal)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(folder: Path) -> None:
    """Make the new file's directory entry durable."""
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
