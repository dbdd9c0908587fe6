"""The SQLite store file's schema, and bringing older files up to date."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from broker.clock import FakeClock
from broker.models import Anchor
from broker.store.sqlite.schema import ANCHORS_DDL, DDL, SCHEMA_VERSION
from broker.store.sqlite.store import DEFAULT_FILENAME, SqliteStore
from broker.typing import WriterId
from tests.store.contract_consent_requests import request
from tests.store.world import EU, T0, consent, session, us_session, world

# The sessions table as schema versions 1 and 2 declared it: with foreign keys.
V2_SESSIONS = """CREATE TABLE sessions_v2 (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (id),
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    staff_id TEXT NOT NULL REFERENCES staff (id),
    target TEXT NOT NULL,
    region TEXT NOT NULL,
    basis TEXT NOT NULL CHECK (basis IN ('intra-eea', 'adequacy', 'scc', 'consent',
                                         'not-eea')),
    state TEXT NOT NULL CHECK (state IN ('issued', 'connected', 'closed', 'revoked',
                                         'expired')),
    created_at INTEGER NOT NULL,
    valid_before INTEGER NOT NULL,
    consent_id TEXT REFERENCES consents (id),
    source_address TEXT,
    cert_serial INTEGER,
    ended_at INTEGER,
    end_reason TEXT,
    rev INTEGER NOT NULL,
    FOREIGN KEY (org_id, target) REFERENCES targets (org_id, name)
) WITHOUT ROWID"""


# The columns schema version 4 added, by table.
V4_COLUMNS = (("orgs", "terminal_access"), ("consents", "waives_eea_only"), ("sessions", "access"))


def as_version_3(path: Path) -> None:
    """Turn a current store file back into what schema version 3 wrote."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        _drop_v4_columns(conn)
        conn.execute("DROP TABLE audit_anchors")
        conn.execute("PRAGMA user_version = 3")
        conn.execute("COMMIT")


def as_version_4(path: Path) -> None:
    """Turn a current store file back into what schema version 4 wrote (no anchors)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        _drop_v7_column(conn)
        conn.execute("DROP TABLE audit_anchors")
        conn.execute("PRAGMA user_version = 4")


def _drop_v4_columns(conn: sqlite3.Connection) -> None:
    for table, column in V4_COLUMNS:
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    _drop_v7_column(conn)


def _drop_v7_column(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE orgs DROP COLUMN require_watch")


def _anchors_before_writers(conn: sqlite3.Connection) -> None:
    """The anchors table of schema versions 5 to 10: keyed by region alone, no writer."""
    rows = conn.execute(
        "SELECT region, number, seq, hash, segment, line, offset, time, final FROM audit_anchors"
    ).fetchall()
    conn.execute("DROP TABLE audit_anchors")
    for statement in ANCHORS_DDL:
        conn.execute(statement)
    conn.executemany("INSERT INTO audit_anchors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def as_version_6(path: Path) -> None:
    """Turn a current store file back into what schema version 6 wrote (no require_watch)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        _drop_v7_column(conn)
        _anchors_before_writers(conn)
        conn.execute("PRAGMA user_version = 6")


def as_version_7(path: Path) -> None:
    """Turn a current store file back into what schema version 7 wrote (anchors by
    region, no consent requests, no console sign-ins)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        _anchors_before_writers(conn)
        conn.execute("DROP TABLE consent_requests")  # and its indexes
        conn.execute("DROP TABLE console_sessions")
        conn.execute("DROP INDEX sessions_org")
        conn.execute("PRAGMA user_version = 7")


def as_version_11(path: Path) -> None:
    """Turn a current store file back into what schema version 11 wrote (no consent requests)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("DROP TABLE consent_requests")  # and its indexes
        conn.execute("PRAGMA user_version = 11")


def as_version_2(path: Path) -> None:
    """Turn a current store file back into what schema version 2 wrote."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        _drop_v4_columns(conn)
        _anchors_before_writers(conn)
        conn.execute(V2_SESSIONS)
        conn.execute("INSERT INTO sessions_v2 SELECT * FROM sessions")
        conn.execute("DROP TABLE sessions")
        conn.execute("ALTER TABLE sessions_v2 RENAME TO sessions")
        for statement in DDL:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.execute("COMMIT")


def session_foreign_keys(path: Path) -> list[object]:
    """What ``PRAGMA foreign_key_list`` says of the sessions table."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA foreign_key_list(sessions)").fetchall()


def assert_migrated_and_refuses(path: Path, write: str, match: str | None = None) -> None:
    """The file is at ``SCHEMA_VERSION`` and the migrated schema refuses ``write``."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        with pytest.raises(sqlite3.IntegrityError, match=match):
            conn.execute(write)
    assert version == SCHEMA_VERSION


class TestSchemaMigration:
    """Older store files are brought to ``SCHEMA_VERSION`` when first opened."""

    async def test_version_2_file_keeps_every_session(self, tmp_path: Path) -> None:
        """Sessions, with their indexes, survive the sessions table's rebuild."""
        path = tmp_path / DEFAULT_FILENAME
        async with SqliteStore(path) as store:
            await store.import_bundle(world())
            await store.add_consent(consent())
            await store.create_session(session())
            await store.create_session(us_session("sess-us", "consent-1"))
        as_version_2(path)
        assert session_foreign_keys(path) != []
        async with SqliteStore(path, clock=FakeClock(T0)) as store:
            assert await store.get_session(session().id) == session()
            assert await store.get_session(us_session("sess-us", "consent-1").id) == us_session(
                "sess-us", "consent-1"
            )
        with contextlib.closing(sqlite3.connect(path)) as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            indexes = {row[1] for row in conn.execute("PRAGMA index_list(sessions)")}
        assert version == SCHEMA_VERSION
        assert {"sessions_ticket", "sessions_staff", "sessions_region_rev"} <= indexes

    async def test_version_3_file_gets_the_access_columns(self, tmp_path: Path) -> None:
        """Rows from before version 4 read as they meant: no opt-in, no waiver, terminals."""
        path = tmp_path / DEFAULT_FILENAME
        async with SqliteStore(path) as store:
            await store.import_bundle(world())
            await store.add_consent(consent())
            await store.create_session(session())
        as_version_3(path)
        async with SqliteStore(path) as store:
            org = await store.get_org(session().org_id)
            stored = await store.get_session(session().id)
            (kept,) = await store.list_consents(consent().ticket_id)
        assert (org.terminal_access, stored.access, kept.waives_eea_only) == (
            False,
            "terminal",
            False,
        )
        assert_migrated_and_refuses(path, "UPDATE sessions SET access = 'telnet'")

    async def test_version_6_file_gets_require_watch_off(self, tmp_path: Path) -> None:
        """An org stored before version 7 reads with require_watch off; the column is checked."""
        path = tmp_path / DEFAULT_FILENAME
        async with SqliteStore(path) as store:
            await store.import_bundle(world())
        as_version_6(path)
        async with SqliteStore(path) as store:
            org = await store.get_org(session().org_id)
        assert org.require_watch is False
        assert_migrated_and_refuses(path, "UPDATE orgs SET require_watch = 2")

    async def test_version_11_file_gets_consent_requests(self, tmp_path: Path) -> None:
        """A file from before consent requests takes the table, checked, and keeps its rows."""
        path = tmp_path / DEFAULT_FILENAME
        async with SqliteStore(path) as store:
            await store.import_bundle(world())
        as_version_11(path)
        async with SqliteStore(path, clock=FakeClock(T0)) as store:
            await store.add_consent_request(request())
            assert (await store.get_consent_request(request().id)).state == "pending"
            assert await store.get_org(session().org_id)
        assert_migrated_and_refuses(path, "UPDATE consent_requests SET state = 'maybe'")

    async def test_version_4_file_gets_the_anchors_table(self, tmp_path: Path) -> None:
        """A file from before anchors takes them, append-only, and keeps its rows."""
        path = tmp_path / DEFAULT_FILENAME
        async with SqliteStore(path) as store:
            await store.import_bundle(world())
        as_version_4(path)
        made = Anchor(EU, 1, 0, "0" * 64, 1, 0, 0, "2026-12-04T10:00:00.000000Z")
        async with SqliteStore(path) as store:
            await store.add_anchor(made)
            assert await store.latest_anchor(EU) == made
            assert await store.get_org(session().org_id)
        assert_migrated_and_refuses(path, "DELETE FROM audit_anchors", match="append-only")

    async def test_version_7_file_keys_anchors_by_writer(self, tmp_path: Path) -> None:
        """A region's anchors from before writers are ``main``'s; another writer numbers its own."""
        path = tmp_path / DEFAULT_FILENAME
        old = Anchor(EU, 1, 4, "ab" * 32, 1, 4, 720, "2026-12-04T10:00:00.000000Z")
        async with SqliteStore(path) as store:
            await store.add_anchor(old)
        as_version_7(path)
        replica = WriterId("eu-central-1-a1b2")
        other = Anchor(
            EU, 1, 2, "cd" * 32, 1, 2, 360, "2026-12-04T10:00:01.000000Z", False, replica
        )
        async with SqliteStore(path) as store:
            assert await store.latest_anchor(EU, WriterId("main")) == old
            await store.add_anchor(other)
            assert (await store.latest_anchor(EU), await store.latest_anchor(EU, replica)) == (
                old,
                other,
            )
        assert_migrated_and_refuses(path, "DELETE FROM audit_anchors", match="append-only")

    async def test_sessions_declare_no_foreign_keys(self, tmp_path: Path) -> None:
        """New files and migrated ones alike: the insert's own conditions check the rows."""
        fresh, migrated = tmp_path / "fresh.db", tmp_path / "migrated.db"
        for path in (fresh, migrated):
            async with SqliteStore(path) as store:
                await store.import_bundle(world())
        as_version_2(migrated)
        async with SqliteStore(migrated) as store:
            await store.ping()
        assert session_foreign_keys(fresh) == session_foreign_keys(migrated) == []
