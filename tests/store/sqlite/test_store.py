"""The SQLite store: the shared contract, plus what only a file-backed store has."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from broker.clock import FakeClock
from broker.errors import ConflictError, InputError, NotFoundError, UnavailableError
from broker.store.base import ImportBundle, SessionQuery, Store
from broker.store.sqlite import tx as sqlite_tx
from broker.store.sqlite.schema import SCHEMA_VERSION
from broker.store.sqlite.store import DEFAULT_FILENAME, SqliteStore
from broker.typing import ConsentId, SessionId
from tests.store.contract import StoreContract
from tests.store.contract_grants import RevisionContract
from tests.store.world import (
    EU,
    ORG_DE,
    T0,
    TICKET_CLOSED,
    TICKET_DE,
    consent,
    session,
    us_session,
    world,
)


class TestSqliteStore(StoreContract, RevisionContract):
    """``SqliteStore`` passes the store contract, revisions included."""

    async def open_store(self, tmp_path: Path) -> Store:
        """A store on a file in the test's own directory."""
        return SqliteStore(tmp_path / DEFAULT_FILENAME, clock=FakeClock(T0))

    async def open_unreachable_store(self, tmp_path: Path) -> Store:
        """A store whose directory does not exist."""
        return SqliteStore(tmp_path / "missing" / DEFAULT_FILENAME, clock=FakeClock(T0))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A SQLite store on a fresh file holding the fixed world."""
    async with SqliteStore(tmp_path / DEFAULT_FILENAME, clock=FakeClock(T0)) as opened:
        await opened.import_bundle(world())
        yield opened


def _pragma(conn: sqlite3.Connection, name: str) -> object:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def _plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> str:
    rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(str(row[-1]) for row in rows)


class TestSqliteFile:
    """The file's settings, schema and durability."""

    async def test_connection_settings(self, store: SqliteStore) -> None:
        """WAL mode, foreign keys on and synchronous=NORMAL on the store's connection."""
        names = ("journal_mode", "foreign_keys", "synchronous")
        got = [await store._read(_pragma, name) for name in names]
        assert got == ["wal", 1, 1]
        with contextlib.closing(sqlite3.connect(store.path)) as other:
            assert _pragma(other, "journal_mode") == "wal"

    @pytest.mark.parametrize(
        ("sql", "params", "index"),
        [
            (
                "SELECT * FROM sessions WHERE region = ? AND rev > ?",
                ("r", 0),
                "sessions_region_rev",
            ),
            ("SELECT * FROM sessions WHERE consent_id = ?", ("c",), "sessions_consent"),
            (
                "SELECT * FROM sessions WHERE ticket_id = ? ORDER BY created_at DESC, id DESC",
                ("t",),
                "sessions_ticket",
            ),
            ("SELECT * FROM sessions WHERE staff_id = ?", ("s",), "sessions_staff"),
        ],
    )
    async def test_hot_queries_use_indexes(
        self, store: SqliteStore, sql: str, params: tuple[object, ...], index: str
    ) -> None:
        """The lookups behind revocation, polling and listing are index searches."""
        plan = await store._read(_plan, sql, params)
        assert f"USING INDEX {index}" in plan
        assert "TEMP B-TREE" not in plan

    async def test_data_survives_reopen(self, tmp_path: Path) -> None:
        """Closing and reopening the file keeps every record."""
        path = tmp_path / DEFAULT_FILENAME
        async with SqliteStore(path, clock=FakeClock(T0)) as first:
            await first.import_bundle(world())
            await first.create_session(session())
        async with SqliteStore(path, clock=FakeClock(T0)) as second:
            assert await second.get_session(SessionId("sess-1")) == session()
            assert await second.get_org(ORG_DE.id) == ORG_DE

    async def test_newer_schema_is_refused(self, tmp_path: Path) -> None:
        """A file written by a newer broker is not used (fail closed)."""
        path = tmp_path / DEFAULT_FILENAME
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        async with SqliteStore(path, clock=FakeClock(T0)) as store:
            with pytest.raises(UnavailableError) as caught:
                await store.ping()
        assert caught.value.code == "store_schema_newer"

    async def test_import_hook_runs_first(self, tmp_path: Path) -> None:
        """``validate_bundle`` sees the bundle first; its refusal writes nothing."""
        seen: list[ImportBundle] = []

        def refuse(bundle: ImportBundle) -> None:
            seen.append(bundle)
            raise InputError("orgs[1].region", "an eea_only org must be in an EEA region")

        async with SqliteStore(tmp_path / DEFAULT_FILENAME, validate_bundle=refuse) as store:
            with pytest.raises(InputError) as caught:
                await store.import_bundle(world())
            assert caught.value.field == "orgs[1].region"
            assert seen == [world()]
            with pytest.raises(NotFoundError):
                await store.get_org(ORG_DE.id)


def _garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a database file, just bytes " * 200)
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


class TestSqliteUnavailable:
    """An unusable file fails closed with ``UnavailableError``, and recovers."""

    @pytest.mark.parametrize(
        "make",
        [
            pytest.param(lambda tmp: tmp / "no" / "such" / "dir" / "b.db", id="missing-dir"),
            pytest.param(lambda tmp: _directory(tmp / "b.db"), id="path-is-directory"),
            pytest.param(lambda tmp: _garbage(tmp / "b.db"), id="not-a-database"),
        ],
    )
    async def test_unusable_file(self, tmp_path: Path, make: Callable[[Path], Path]) -> None:
        """Every kind of unusable file raises ``UnavailableError`` (HTTP 503)."""
        async with SqliteStore(make(tmp_path), clock=FakeClock(T0)) as store:
            with pytest.raises(UnavailableError) as caught:
                await store.get_org(ORG_DE.id)
        assert caught.value.code == "store_unavailable"

    async def test_connection_closed_underneath(self, store: SqliteStore) -> None:
        """A connection that died raises once, then the store reconnects."""
        await store._read(sqlite3.Connection.close)
        with pytest.raises(UnavailableError):
            await store.get_org(ORG_DE.id)
        assert await store.get_org(ORG_DE.id) == ORG_DE

    async def test_closed_store(self, store: SqliteStore) -> None:
        """Calls after ``close`` fail closed; closing twice is harmless."""
        await store.close()
        await store.close()
        with pytest.raises(UnavailableError) as caught:
            await store.get_org(ORG_DE.id)
        assert caught.value.code == "store_closed"


RACERS = 60
CHILD = """
import asyncio, json, sys
from datetime import UTC, datetime
from broker.errors import ConflictError
from broker.store.sqlite.store import SqliteStore

async def main():
    won = []
    async with SqliteStore(sys.argv[1]) as store:
        await store.ping()
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(int(sys.argv[2])):
            try:
                await store.end_session(f"s-{i}", "revoked", "child", datetime.now(UTC))
                won.append(f"s-{i}")
            except ConflictError:
                pass
    print(json.dumps(won), flush=True)

asyncio.run(main())
"""


async def _end_all(store: SqliteStore, reason: str, backwards: bool = False) -> set[str]:
    won = set()
    # Going backwards meets a forward-going rival in the middle, so both win some.
    for i in reversed(range(RACERS)) if backwards else range(RACERS):
        with contextlib.suppress(ConflictError):
            await store.end_session(SessionId(f"s-{i}"), "revoked", reason, T0)
            won.add(f"s-{i}")
    return won


class TestSqliteTwoConnections:
    """Conditional updates hold between connections and processes on one file."""

    @pytest.fixture
    async def twin(self, store: SqliteStore) -> AsyncIterator[SqliteStore]:
        """A second store (own connection, own thread) on the same file."""
        async with SqliteStore(store.path, clock=FakeClock(T0)) as other:
            yield other

    async def test_ends_race_across_connections(
        self, store: SqliteStore, twin: SqliteStore
    ) -> None:
        """Each session is ended by exactly one of two stores, and keeps that answer."""
        for i in range(RACERS):
            await store.create_session(session(f"s-{i}"))
        one, two = await asyncio.gather(
            _end_all(store, "one"), _end_all(twin, "two", backwards=True)
        )
        assert one.isdisjoint(two)
        assert one | two == {f"s-{i}" for i in range(RACERS)}
        for i in range(RACERS):
            stored = await twin.get_session(SessionId(f"s-{i}"))
            assert stored.end_reason == ("one" if f"s-{i}" in one else "two")

    @pytest.mark.parametrize("revoke_first", [False, True])
    async def test_revoke_on_one_issue_on_other(
        self, store: SqliteStore, twin: SqliteStore, revoke_first: bool
    ) -> None:
        """A revocation through one connection never leaves a live session issued
        through another."""
        await store.add_consent(consent())
        creates = [twin.create_session(us_session(f"s-{i}", "consent-1")) for i in range(8)]
        revoke = store.revoke_consent(ConsentId("consent-1"), T0)
        calls = [revoke, *creates] if revoke_first else [*creates[:4], revoke, *creates[4:]]
        await asyncio.gather(*calls, return_exceptions=True)
        page = await store.list_sessions(SessionQuery(ticket_id=TICKET_DE.id))
        assert all(s.state == "revoked" for s in page.items)

    async def test_revisions_are_shared(self, store: SqliteStore, twin: SqliteStore) -> None:
        """A change made through one connection is seen by the other's poll."""
        rev, _ = await twin.ended_sessions(EU, 0)
        await store.create_session(session())
        rev1, changed = await twin.ended_sessions(EU, rev)
        assert rev1 > rev
        assert changed == []  # a new session moves the revision; only ends are returned
        await twin.end_session(SessionId("sess-1"), "revoked", "ops", T0)
        rev2, changed = await store.ended_sessions(EU, rev1)
        assert rev2 > rev1 > rev
        assert [s.state for s in changed] == ["revoked"]

    async def test_writer_waits_for_a_held_lock(self, store: SqliteStore) -> None:
        """A write while another connection holds the lock waits, then goes through."""
        holder = sqlite3.connect(store.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            write = asyncio.ensure_future(store.create_session(session()))
            await asyncio.sleep(0.3)
            assert not write.done()  # it cannot have committed under another's lock
        finally:
            holder.execute("COMMIT")
            holder.close()
        assert await write == session()

    async def test_lock_held_too_long_fails_closed(
        self, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A lock held past the wait budget: the write is refused as unavailable, not hung."""
        monkeypatch.setattr(sqlite_tx, "LOCK_WAIT_SECONDS", 0.2)
        holder = sqlite3.connect(store.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(UnavailableError):
                await store.create_session(session())
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert await store.create_session(session()) == session()

    async def test_ends_race_across_processes(self, store: SqliteStore) -> None:
        """Another broker process on the same file never ends a session a second time."""
        for i in range(RACERS):
            await store.create_session(session(f"s-{i}"))
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            store.path,
            str(RACERS),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        assert await child.stdout.readline() == b"ready\n"
        child.stdin.write(b"go\n")
        mine = await _end_all(store, "parent", backwards=True)
        theirs = set(json.loads(await child.stdout.readline()))
        assert await child.wait() == 0
        assert mine.isdisjoint(theirs)
        assert mine | theirs == {f"s-{i}" for i in range(RACERS)}
        for sid in theirs:
            assert (await store.get_session(SessionId(sid))).end_reason == "child"


@contextlib.asynccontextmanager
async def worker_held(store: SqliteStore) -> AsyncIterator[None]:
    """Keep the worker busy so that everything submitted inside runs as one batch."""
    started, gate = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait(10)

    blocker = asyncio.ensure_future(store._submit(False, hold))  # on the worker thread
    assert await asyncio.to_thread(started.wait, 10)
    try:
        yield
        await asyncio.sleep(0)  # let the tasks made inside submit their jobs
    finally:
        gate.set()
        await blocker


def _broken_write(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO no_such_table VALUES (1)")


class TestSqliteGroupCommit:
    """Writes queued together commit together, yet each keeps its own answer."""

    async def test_failed_conditions_stay_their_own(self, store: SqliteStore) -> None:
        """In one group, refused and duplicate writes fail alone; the rest commit."""
        async with worker_held(store):
            tasks = [
                asyncio.ensure_future(store.create_session(session(f"g-{i}", **changes)))
                for i, changes in enumerate([{}, {"ticket_id": TICKET_CLOSED.id}, {}, {}])
            ]
            tasks.append(asyncio.ensure_future(store.create_session(session("g-0"))))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [type(r).__name__ for r in results] == [
            "Session",
            "ConflictError",
            "Session",
            "Session",
            "ConflictError",
        ]
        page = await store.list_sessions(SessionQuery())
        assert sorted(s.id for s in page.items) == ["g-0", "g-2", "g-3"]

    async def test_broken_group_fails_whole_and_recovers(self, store: SqliteStore) -> None:
        """A database error inside a group fails every write of it; nothing is committed."""
        async with worker_held(store):
            tasks = [
                asyncio.ensure_future(store.create_session(session(f"g-{i}"))) for i in range(3)
            ]
            tasks.append(asyncio.ensure_future(store._write(_broken_write)))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, UnavailableError) for r in results)
        assert (await store.list_sessions(SessionQuery())).items == []
        assert await store.create_session(session("after")) == session("after")

    async def test_cancelled_caller_does_not_disturb_others(self, store: SqliteStore) -> None:
        """A caller that gives up leaves the other callers' answers intact."""
        async with worker_held(store):
            gone = asyncio.ensure_future(store.create_session(session("gone")))
            kept = asyncio.ensure_future(store.create_session(session("kept")))
            await asyncio.sleep(0)
            gone.cancel()
        assert await kept == session("kept")
        with pytest.raises(asyncio.CancelledError):
            await gone
