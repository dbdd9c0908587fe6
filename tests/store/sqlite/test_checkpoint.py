"""WAL checkpoints on their own thread: the writer's commits never run them."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from broker.store.sqlite.checkpoint import Checkpointer
from broker.store.sqlite.store import DEFAULT_FILENAME, SqliteStore
from tests.store.world import session, world


def _wait_for(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


class TestCheckpointer:
    """``Checkpointer``: a thread copying the log back, never creating the file."""

    def test_copies_the_log_into_the_database_file(self, tmp_path: Path) -> None:
        """Pages written to the WAL reach the main file without any commit checkpointing."""
        path = tmp_path / "c.db"
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("CREATE TABLE t (x BLOB)")
        size_before = path.stat().st_size
        writer.executemany("INSERT INTO t VALUES (randomblob(?))", [(4000,)] * 50)
        checkpoints = Checkpointer(str(path), interval=0.02)
        try:
            assert _wait_for(lambda: path.stat().st_size > size_before + 50 * 4000)
        finally:
            checkpoints.stop()
            writer.close()
        assert checkpoints.checkpoints > 0

    def test_never_creates_the_file(self, tmp_path: Path) -> None:
        """With no store file yet it waits; it does not make an empty database."""
        path = tmp_path / "missing.db"
        checkpoints = Checkpointer(str(path), interval=0.01)
        time.sleep(0.1)
        checkpoints.stop()
        assert not path.exists()
        assert checkpoints.checkpoints == 0

    def test_stop_ends_the_thread(self, tmp_path: Path) -> None:
        """After ``stop`` no checkpoint thread is left running."""
        checkpoints = Checkpointer(str(tmp_path / "x.db"), interval=0.01)
        checkpoints.stop()
        assert not any(
            t.name == "broker-checkpoint" and t.is_alive() for t in _threads(checkpoints)
        )


def _threads(checkpoints: Checkpointer) -> list[threading.Thread]:
    return [checkpoints._thread]


class TestStoreCheckpoints:
    """The SQLite store: its writer leaves checkpoints to the thread."""

    async def test_writer_does_not_checkpoint_on_commit(self, tmp_path: Path) -> None:
        """The worker's connection has automatic checkpoints off; the thread still copies."""
        path = tmp_path / DEFAULT_FILENAME
        async with SqliteStore(path) as store:
            await store.import_bundle(world())
            setting = await store._write(
                lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            )
            assert setting == 0
            size_before = path.stat().st_size
            for index in range(40):
                await store.create_session(session(f"k-{index}"))
            grew = await asyncio.to_thread(_wait_for, lambda: path.stat().st_size > size_before)
            assert grew
