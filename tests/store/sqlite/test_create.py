"""SQLite session inserts run together: one statement for a run, each insert its own answer."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from broker.clock import FakeClock
from broker.errors import InputError
from broker.models import Session
from broker.store.base import SessionQuery
from broker.store.sqlite import create as sqlite_create
from broker.store.sqlite.create import SessionInsert
from broker.store.sqlite.store import DEFAULT_FILENAME, SqliteStore
from broker.store.sqlite.tx import SESSION_REV
from broker.typing import SessionId, StaffId, TargetName
from tests.store.sqlite.test_store import worker_held
from tests.store.world import T0, TICKET_CLOSED, consent, session, us_session, world

FAULTS = {
    "none": {},
    "closed_ticket": {"ticket_id": TICKET_CLOSED.id},
    "unknown_staff": {"staff_id": StaffId("staff-nobody")},
    "unknown_target": {"target": TargetName("nowhere")},
    "bad_window": {"valid_before": T0},
    "stale_world": {},  # decided over an older revision of the records
}
"""What may be wrong with one insert of a run, as changes to a good session."""


def _outcome(result: Session | BaseException) -> str:
    if isinstance(result, Session):
        return f"ok {result.id}"
    if isinstance(result, InputError):
        return f"InputError {result.field}"
    return f"{type(result).__name__} {getattr(result, 'code', '')}"


async def _stored_in_order(store: SqliteStore) -> list[str]:
    """Stored session ids in revision order (the order their changes are polled in)."""
    with sqlite3.connect(store.path) as conn:
        (rev,) = conn.execute(SESSION_REV).fetchone()
        ids = [row[0] for row in conn.execute("SELECT id FROM sessions ORDER BY rev")]
    assert rev >= len(ids)
    return ids


T0_REGION = session().region


def _insert(index: int, fault: str, world_rev: int, duplicate_of: int | None) -> SessionInsert:
    session_id = f"s-{duplicate_of if duplicate_of is not None else index}"
    made = session(session_id, **FAULTS[fault])
    return SessionInsert(made, world_rev - 1 if fault == "stale_world" else world_rev)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding the fixed world, a consent and one session, copied per case."""
    path = tmp_path_factory.mktemp("template") / DEFAULT_FILENAME

    async def fill() -> None:
        async with SqliteStore(path, clock=FakeClock(T0)) as store:
            await store.import_bundle(world())
            await store.add_consent(consent())
            await store.create_session(session("stored"))

    asyncio.run(fill())
    return path


@pytest.fixture
def copies(template: Path, tmp_path: Path) -> Any:
    """Fresh copies of the template file, numbered."""
    made = iter(range(1_000_000))

    def copy() -> Path:
        target = tmp_path / f"copy-{next(made)}.db"
        shutil.copy(template, target)
        return target

    return copy


async def _together(path: Path, inserts: list[SessionInsert]) -> list[str]:
    async with SqliteStore(path, clock=FakeClock(T0)) as store:
        async with worker_held(store):
            tasks = [asyncio.ensure_future(store._submit(True, insert)) for insert in inserts]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return [_outcome(r) for r in results] + await _stored_in_order(store)


async def _one_by_one(path: Path, inserts: list[SessionInsert]) -> list[str]:
    async with SqliteStore(path, clock=FakeClock(T0)) as store:
        results: list[Session | BaseException] = []
        for insert in inserts:
            try:
                results.append(
                    await store.create_session(insert.session, world_revision=insert.world_revision)
                )
            except Exception as error:
                results.append(error)
        return [_outcome(r) for r in results] + await _stored_in_order(store)


async def _world_rev(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return sqlite_create.world_revision_now(conn)


class TestSessionInsertsTogether:
    """``SessionInsert.run_together`` behind the worker's group commit."""

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        plan=st.lists(
            st.tuples(st.sampled_from(sorted(FAULTS)), st.integers(min_value=-2, max_value=7)),
            min_size=2,
            max_size=8,
        )
    )
    # Found by hypothesis: the stale second insert repeats the first one's id.
    @example(plan=[("none", 9), ("stale_world", 0)])
    async def test_same_answers_as_one_by_one(
        self, copies: Any, plan: list[tuple[str, int]]
    ) -> None:
        """Whatever is wrong with which insert, a run answers and stores what single inserts do.

        A negative pick repeats an earlier insert's id (a taken id sends the run
        back to one by one); a pick of the stored session's id collides too.
        """
        first, second = copies(), copies()
        world_rev = await _world_rev(first)
        inserts = [
            _insert(i, fault, world_rev, None if pick < 0 or pick >= i else pick)
            for i, (fault, pick) in enumerate(plan)
        ]
        assert await _together(first, inserts) == await _one_by_one(second, inserts)

    async def test_a_run_is_one_call(self, copies: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """Five queued inserts reach ``create_sessions`` once, all five together."""
        calls: list[int] = []
        real = sqlite_create.create_sessions

        def counting(conn: sqlite3.Connection, inserts: Any) -> Any:
            calls.append(len(inserts))
            return real(conn, inserts)

        monkeypatch.setattr(sqlite_create, "create_sessions", counting)
        inserts = [SessionInsert(session(f"r-{i}")) for i in range(5)]
        answers = await _together(copies(), inserts)
        assert calls == [5]
        assert answers == [f"ok r-{i}" for i in range(5)] + ["stored"] + [
            f"r-{i}" for i in range(5)
        ]

    async def test_revisions_follow_the_counter(self, copies: Any) -> None:
        """A run's rows take the next revisions in order; the counter ends on the last."""
        path = copies()
        with sqlite3.connect(path) as conn:
            (before,) = conn.execute(SESSION_REV).fetchone()
        refused = session("v-2", ticket_id=TICKET_CLOSED.id)
        inserts = [SessionInsert(session("v-1")), SessionInsert(refused)]
        inserts.append(SessionInsert(session("v-3")))
        answers = await _together(path, inserts)
        assert answers[:3] == ["ok v-1", "ConflictError ticket_closed", "ok v-3"]
        with sqlite3.connect(path) as conn:
            revs = dict(conn.execute("SELECT id, rev FROM sessions WHERE id LIKE 'v-%'"))
            (after,) = conn.execute(SESSION_REV).fetchone()
        assert revs == {"v-1": before + 1, "v-3": before + 3}
        assert after == before + 3

    async def test_consent_sessions_go_in_together(self, copies: Any) -> None:
        """A consent's conditions hold per row: a session outliving the consent is refused."""
        long = us_session("c-long", "consent-1", valid_before=T0 + timedelta(hours=2))
        inserts = [SessionInsert(us_session("c-ok", "consent-1")), SessionInsert(long)]
        answers = await _together(copies(), inserts)
        assert answers[:2] == ["ok c-ok", "ConflictError consent_invalid"]

    async def test_order_with_other_writes_is_kept(self, copies: Any) -> None:
        """Inserts, an end of the first, another insert: each runs where it was submitted."""
        async with SqliteStore(copies(), clock=FakeClock(T0)) as store:
            async with worker_held(store):
                tasks = [
                    asyncio.ensure_future(store.create_session(session("o-1"))),
                    asyncio.ensure_future(store.create_session(session("o-2"))),
                    asyncio.ensure_future(
                        store.end_session(SessionId("o-1"), "revoked", "test", T0)
                    ),
                    asyncio.ensure_future(store.create_session(session("o-3"))),
                ]
            results = await asyncio.gather(*tasks)
            assert results[2].state == "revoked"
            page = await store.list_sessions(SessionQuery())
            assert {s.id for s in page.items} == {"stored", "o-1", "o-2", "o-3"}

    async def test_serials_and_times_survive_the_json_rows(self, copies: Any) -> None:
        """Serials across the unsigned 64-bit range, times and access modes read back equal."""
        made = [
            session("x-1", cert_serial=1, created_at=T0 + timedelta(microseconds=1)),
            session("x-2", cert_serial=2**63, source_address="10.0.0.0/8"),
            session("x-3", cert_serial=2**64 - 1),
            session("x-4", cert_serial=None, access="view"),
        ]
        async with SqliteStore(copies(), clock=FakeClock(T0)) as store:
            async with worker_held(store):
                tasks = [asyncio.ensure_future(store.create_session(s)) for s in made]
            await asyncio.gather(*tasks)
            assert [await store.get_session(s.id) for s in made] == made

    async def test_malformed_insert_fails_alone(self, copies: Any) -> None:
        """A session ending before it starts is refused by name; its neighbours go in."""
        inserts = [
            SessionInsert(session("m-1")),
            SessionInsert(session("m-2", valid_before=T0)),
            SessionInsert(session("m-3")),
        ]
        answers = await _together(copies(), inserts)
        assert answers[:3] == ["ok m-1", "InputError valid_before", "ok m-3"]


class _Broken(SessionInsert):
    """A groupable write whose ``run_together`` has a bug."""

    __slots__ = ()

    @classmethod
    def run_together(cls, conn: sqlite3.Connection, writes: Any) -> Any:
        raise RuntimeError("a bug")


class TestGroupSurvivesABug:
    """A ``run_together`` that raises anything else fails its group closed, not the thread."""

    async def test_group_fails_closed_and_the_store_goes_on(self, copies: Any) -> None:
        """Every write of the group fails as unavailable, nothing is kept, later writes work."""
        async with SqliteStore(copies(), clock=FakeClock(T0)) as store:
            async with worker_held(store):
                tasks = [
                    asyncio.ensure_future(store._submit(True, _Broken(session(f"b-{i}"))))
                    for i in range(3)
                ]
            # A dead store thread would leave these waiting forever: fail instead.
            results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
            assert [type(r).__name__ for r in results] == ["UnavailableError"] * 3
            assert [s.id for s in (await store.list_sessions(SessionQuery())).items] == ["stored"]
            assert await store.create_session(session("after")) == session("after")


class TestRowsStatement:
    """``_CREATE_MANY``: the single insert's conditions, over rows of a JSON array."""

    def test_binds_only_the_rows(self) -> None:
        """Every named parameter of the single insert became a row element."""
        names = set(re.findall(r":([a-z_]+)", sqlite_create._CREATE_MANY))
        assert names == {"rows"}

    def test_keeps_every_condition(self) -> None:
        """As many conditions and subqueries as the single insert, none dropped."""
        many = sqlite_create._CREATE_MANY.replace(SESSION_REV, "", 1)
        one = sqlite_create._CREATE
        for word in ("EXISTS", "AND", "OR", "IS NULL", "SELECT", "="):
            assert many.count(word) == one.count(word), word
        assert many.count("FROM json_each(:rows) AS r") == 1

    def test_conflict_rolls_back_the_run(self, template: Path, tmp_path: Path) -> None:
        """A taken id fails the statement with nothing of it written, revision included."""
        path = tmp_path / "c.db"
        shutil.copy(template, path)
        with sqlite3.connect(path, isolation_level=None) as conn:
            before = conn.execute(SESSION_REV).fetchone()
            conn.execute("BEGIN IMMEDIATE")
            with pytest.raises(sqlite3.IntegrityError):
                sqlite_create.create_sessions(
                    conn, [SessionInsert(session("fresh")), SessionInsert(session("stored"))]
                )
            conn.execute("COMMIT")
            after = conn.execute(SESSION_REV).fetchone()
            assert after == before
            assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
