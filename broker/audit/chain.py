"""Append records to one writer's hash chain of a region, durably and crash-safely.

Records are encoded as they arrive and buffered. Every ``batch_size``
records the writer's own thread writes the batch (one ``write`` per
segment); a flush (``flush()``, which the auditor calls every second, and
``close()``) writes what is left, fsyncs it when ``durability`` is
``"fsync"``, then replaces the sealed ``HEAD``. A process crash therefore
loses at most the records not yet written, power loss at most those not yet
flushed: on open the writer reads the tail after ``HEAD``, keeps every
complete record that links correctly, truncates a torn last line, and seals
the result.
Anything else wrong at or before ``HEAD`` is tampering (or lost storage): the
writer refuses to open, and the region's trail is unavailable until ops look.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from broker.audit.chains import ChainLock, adopt_legacy
from broker.audit.segments import (
    Head,
    check_line,
    encode_record,
    ends_with_hash,
    genesis,
    head_sealed,
    list_segments,
    read_head,
    segment_name,
    sync_directory,
    write_head,
)
from broker.errors import UnavailableError
from broker.state import MAIN_WRITER
from broker.typing import Region, WriterId

Durability = Literal["write", "fsync"]
"""``write``: each flush reaches the OS (survives a process crash);
``fsync``: each flush reaches the disk (survives power loss)."""


@dataclass(frozen=True, slots=True)
class ChainConfig:
    """How a chain writer batches, syncs and rotates."""

    durability: Durability = "fsync"
    batch_size: int = 256
    max_segment_bytes: int = 64 * 1024 * 1024
    max_segment_records: int = 100_000


def _broken(region: str, why: str) -> UnavailableError:
    return UnavailableError(
        "audit_chain_broken", f"audit chain is broken ({why}); run 'broker audit verify'",
        region=region,
    )  # fmt: skip


class ChainWriter:
    """The single writer of one chain, (region, writer) (thread-safe; one per process).

    It holds the chain folder's lock while open: another process naming the
    same writer is refused (``audit_writer_busy``); ``adopt`` is the region's
    audit folder when this is ``main``'s chain, which may still lie there in
    the layout from before writers (``broker.audit.chains``).

    ``append`` only encodes and chains the record in memory, under a lock
    held for microseconds: the main process appends from its event loop,
    which also relays the gateways' terminals. Files are written by
    ``flush``, on the caller's thread, or, when a batch fills, by the
    writer's own flusher thread, one flush at a time and in order. A flush
    that fails makes the writer unusable: the flush raises, and so does
    every later ``append`` (fail closed; what reached the disk is recovered
    on the next open).
    """

    def __init__(
        self,
        directory: Path,
        region: Region,
        secret: bytes,
        config: ChainConfig | None = None,
        *,
        writer: WriterId = MAIN_WRITER,
        adopt: Path | None = None,
    ) -> None:
        self._dir = Path(directory)
        self._region = region
        self._writer = writer
        self._secret = secret
        self._config = config or ChainConfig()
        self._sync = self._config.durability == "fsync"
        self._lock = threading.Lock()  # the chain's state and the buffer; never held for I/O
        self._io = threading.Lock()  # the segment file and HEAD: one flush at a time
        self._buffer: list[tuple[int, bytes]] = []  # (segment, line), in chain order
        self._flush_queued = False
        self._fd: int | None = None
        self._fd_segment = 0
        self._usable = True
        self._claim = ChainLock(self._dir, region, writer)
        try:
            if adopt is not None:
                adopt_legacy(adopt, sync=self._sync)
            self._head = recover(self._dir, region, secret, sync=self._sync, writer=writer)
        except BaseException:
            self._claim.release()
            raise
        self._flusher = ThreadPoolExecutor(1, thread_name_prefix=f"audit-{region}-{writer}")
        self.opened = self._head
        """The head as this writer found (and sealed) it: what the anchor check judges."""
        self._seq, self._hash = self._head.seq, self._head.hash
        self._segment, self._lines, self._bytes = (
            self._head.segment,
            self._head.line,
            self._head.offset,
        )

    @property
    def head(self) -> Head:
        """The last durable record."""
        return self._head

    @property
    def usable(self) -> bool:
        """False once closed or failed."""
        with self._lock:
            return self._usable

    def fail(self) -> None:
        """Refuse every later append and flush (the chain contradicts its anchor)."""
        with self._lock:
            self._usable = False

    def check(self) -> None:
        """Raise ``UnavailableError`` if ``append`` would refuse now (a failed or closed trail)."""
        if not self.usable:
            raise UnavailableError("audit_unavailable", "audit trail is closed or failed")

    def append(self, time: str, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Chain one record; returns it as stored, with ``seq``, ``prev`` and ``hash``."""
        with self._lock:
            if not self._usable:
                raise UnavailableError("audit_unavailable", "audit trail is closed or failed")
            if self._lines and (
                self._bytes >= self._config.max_segment_bytes
                or self._lines >= self._config.max_segment_records
            ):
                self._segment, self._lines, self._bytes = self._segment + 1, 0, 0
            record = {
                "seq": self._seq + 1, "time": time, "region": self._region,
                "writer": self._writer, "event": event,
            }  # fmt: skip
            record.update(fields)
            record["prev"] = self._hash
            line, digest = encode_record(record)
            self._buffer.append((self._segment, line))
            self._seq, self._hash = self._seq + 1, digest
            self._lines, self._bytes = self._lines + 1, self._bytes + len(line)
            if len(self._buffer) >= self._config.batch_size and not self._flush_queued:
                self._flush_queued = True
                self._flusher.submit(self._flush_queued_batch)
        record["hash"] = digest
        return record

    def flush(self) -> None:
        """Make every appended record durable (to the configured level), then return."""
        self._drain(seal=True)

    def _drain(self, *, seal: bool) -> None:
        """Write the buffered records; with ``seal``, also sync them and replace ``HEAD``."""
        with self._io:
            with self._lock:
                if not self._usable:
                    raise UnavailableError("audit_unavailable", "audit trail is closed or failed")
                lines, self._buffer = self._buffer, []
                head = Head(
                    self._region, self._segment, self._lines, self._bytes, self._seq, self._hash,
                    self._writer,
                )  # fmt: skip
            if lines or (seal and head != self._head):
                self._write(lines, head, seal=seal)

    def close(self) -> None:
        """Flush and release the segment file; later appends fail.

        Raises ``UnavailableError`` if this last flush fails; a writer that had
        already failed has nothing more it could write, and closes quietly."""
        try:
            with self._lock:
                usable = self._usable
            if usable:
                self.flush()
        finally:
            with self._lock:
                self._usable = False
            with self._io:
                self._close_fd()
            self._flusher.shutdown(wait=True)
            self._claim.release()

    def _flush_queued_batch(self) -> None:
        """A full batch, written on the flusher thread; the next ``flush`` seals it.

        Written, not synced: each ``fsync`` here made the disk's journal commit,
        and at 20 a second that stalled every other writer of the file system
        (the store's log among them). A process crash loses nothing written;
        power loss can take what the last ``flush`` (every second) did not seal.
        A failure is not raised here (nobody waits for this thread): it has made
        the writer unusable, so the next ``append`` or ``flush`` reports it."""
        with self._lock:
            self._flush_queued = False
        with contextlib.suppress(UnavailableError):
            self._drain(seal=False)

    def _write(self, lines: list[tuple[int, bytes]], head: Head, *, seal: bool) -> None:
        """Write ``lines`` to their segments; with ``seal``, sync them and seal ``head``.

        The caller holds ``_io``."""
        try:
            for segment, group in itertools.groupby(lines, key=lambda item: item[0]):
                _write_all(self._segment_fd(segment), b"".join(line for _, line in group))
            if not seal:
                return
            if self._sync and self._fd is not None:
                os.fsync(self._fd)
            write_head(self._dir, head, self._secret, sync=self._sync)
            self._head = head
        except OSError as error:
            with self._lock:
                self._usable = False
            self._close_fd()
            raise UnavailableError(
                "audit_unavailable", "audit trail could not be written", region=self._region
            ) from error

    def _segment_fd(self, segment: int) -> int:
        """The open segment file, the previous one synced and closed first on rotation."""
        if self._fd is not None and self._fd_segment != segment:
            if self._sync:
                os.fsync(self._fd)
            self._close_fd()
        if self._fd is None:
            path = self._dir / segment_name(segment)
            created = not path.exists()
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._fd_segment = segment
            if created and self._sync:
                sync_directory(self._dir)
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def recover(
    directory: Path, region: Region, secret: bytes, *, sync: bool, writer: WriterId = MAIN_WRITER
) -> Head:
    """Check the sealed ``HEAD``, keep the valid tail after it, cut a torn line; seal.

    A ``HEAD`` sealed in the form from before writers is sealed again in today's."""
    head, current = _sealed_head(directory, region, secret, writer)
    segments = list_segments(directory)
    if head is None:
        if segments:
            raise _broken(region, "HEAD is missing")
        head = Head(region, 1, 0, 0, 0, genesis(region, writer), writer)
        write_head(directory, head, secret, sync=sync)
        return head
    _check_head_record(directory, head, region)
    tail = _scan_tail(directory, head, [s for s in segments if s[0] >= head.segment], sync=sync)
    if tail != head or not current:
        write_head(directory, tail, secret, sync=sync)
    return tail


def _sealed_head(
    directory: Path, region: Region, secret: bytes, writer: WriterId
) -> tuple[Head | None, bool]:
    """The sealed head (None: no ``HEAD``), and whether its seal has today's form."""
    try:
        found = read_head(directory)
    except (OSError, ValueError):
        raise _broken(region, "HEAD is unreadable") from None
    if found is None:
        return None, True
    head, seal = found
    if head.region != region or head.writer != writer:
        raise _broken(region, "HEAD belongs to another chain")
    if not head_sealed(head, seal, secret):
        raise _broken(region, "HEAD seal does not match")
    return head, seal == head.seal(secret)


def _check_head_record(directory: Path, head: Head, region: Region) -> None:
    if head.seq == 0:
        if head.offset != 0 or head.segment != 1 or head.hash != genesis(region, head.writer):
            raise _broken(region, "HEAD is inconsistent")
        return
    path = directory / segment_name(head.segment)
    try:
        present = ends_with_hash(path, head.offset, head.hash)
    except OSError:
        present = False
    if not present:
        raise _broken(region, "the record HEAD names is missing or changed")


def _scan_tail(
    directory: Path, head: Head, segments: list[tuple[int, Path]], *, sync: bool
) -> Head:
    """The last good record from ``head`` on; truncates a bad end of the last segment."""
    last = head
    for position, (index, path) in enumerate(segments):
        if index != head.segment + position:
            raise _broken(head.region, "a segment is missing")
        start = head.offset if index == head.segment else 0
        last, cut = _scan_segment(path, index, start, last)
        if cut is not None:
            if position != len(segments) - 1:
                raise _broken(head.region, "a bad record is followed by more segments")
            _truncate(path, cut, sync=sync)
    for index, path in segments:
        if index > last.segment and path.stat().st_size == 0:
            path.unlink()  # an empty segment a crash left behind; nothing to lose
    return last


def _scan_segment(path: Path, index: int, start: int, last: Head) -> tuple[Head, int | None]:
    """Walk complete, chained records from ``start``; the offset of the first bad one."""
    with path.open("rb") as stream:
        stream.seek(start)
        data = stream.read()
    lines = last.line if index == last.segment else 0
    position = 0
    while position < len(data):
        end = data.find(b"\n", position)
        if end < 0:
            return last, start + position
        record, _ = check_line(
            data[position:end], last.seq + 1, last.hash, last.region, last.writer
        )
        if record is None:
            return last, start + position
        position, lines = end + 1, lines + 1
        last = Head(
            last.region, index, lines, start + position, record["seq"], record["hash"],
            last.writer,
        )  # fmt: skip
    return last, None


def _truncate(path: Path, size: int, *, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
