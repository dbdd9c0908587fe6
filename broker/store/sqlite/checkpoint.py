"""WAL checkpoints on a thread of their own, off the writers' commits.

SQLite copies the write-ahead log back into the database file ("checkpoint")
inside whichever ``COMMIT`` pushes the log past 1,000 pages, and that commit
then returns only after the copy and two ``fsync`` calls. Under grant load the
store's writer hit one every ~0.1 s: an insert batch that costs ~1 ms took
10-26 ms, and the grants waiting on it came back in bursts.

So the store's writer connection does no checkpoints (``wal_autocheckpoint
= 0``) and this thread runs a ``PASSIVE`` checkpoint every
``CHECKPOINT_SECONDS`` on a connection of its own. ``PASSIVE`` never waits
for readers or writers: it copies what no reader still needs, and the next
writer starts the log over once all of it is copied. The copy runs in SQLite's
C code, outside the interpreter lock. Commits over 4 ms went from ~135 to
~40 per 8 s of grant load (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

CHECKPOINT_SECONDS = 0.1
"""How often the thread checkpoints; the log grows by at most this much load meanwhile."""


class Checkpointer:
    """A daemon thread checkpointing the WAL of the store file at ``path``."""

    def __init__(self, path: str, interval: float = CHECKPOINT_SECONDS) -> None:
        # ``mode=rw``: never create the file; the store's worker makes it (and its schema).
        self._uri = Path(path).absolute().as_uri() + "?mode=rw"
        self._interval = interval
        self._stopping = threading.Event()
        self.checkpoints = 0
        """How many checkpoints ran (for tests and curiosity)."""
        self._thread = threading.Thread(target=self._serve, name="broker-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread (after a checkpoint in progress) and close its connection."""
        self._stopping.set()
        self._thread.join()

    def _serve(self) -> None:
        conn: sqlite3.Connection | None = None
        while not self._stopping.wait(self._interval):
            try:
                conn = conn or sqlite3.connect(self._uri, uri=True, isolation_level=None)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.checkpoints += 1
            except sqlite3.Error:  # no file yet, or it went away: the store reports that
                _close(conn)
                conn = None
        _close(conn)


def _close(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
