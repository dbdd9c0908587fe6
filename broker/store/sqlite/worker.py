"""The SQLite store's one worker thread: it owns the connection and runs every call.

Callers on any event loop submit jobs; the thread takes whatever has queued
up and runs it as one batch:

- reads first, each on its own against committed data. That is safe: every
  queued job was submitted before any queued write finished, so no caller
  can have been promised that a read sees them;
- then the writes in ONE transaction ("group commit"), in the order they were
  submitted, each inside its own savepoint, so a write whose condition fails
  rolls back alone. A commit writes each touched page once however many
  writes share it, which is what makes many concurrent grants cheap. Results
  are released only after the commit; if the commit fails, every write in
  the group fails;
- consecutive writes of one ``GroupableWrite`` class run as one call of it
  (many session inserts become one statement, ``broker.store.sqlite.create``).

Any ``sqlite3`` failure other than a constraint conflict means the file cannot
be used (missing directory, not a database, I/O error, lock held too long):
it surfaces as ``UnavailableError`` and the connection is reopened next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self, cast

from broker.errors import ConflictError, UnavailableError
from broker.store.sqlite.checkpoint import Checkpointer
from broker.store.sqlite.schema import connect
from broker.store.sqlite.tx import begin_immediate, rollback

MAX_GROUP = 64
Work = Callable[[sqlite3.Connection], Any]


class GroupableWrite:
    """Write work whose consecutive neighbours of the same class may run as one call.

    Alone (a single write, or one between writes of other kinds) it is called
    with the connection like any work. Two or more in a row inside a group
    commit go to ``run_together`` instead.
    """

    __slots__ = ()

    def __call__(self, conn: sqlite3.Connection) -> Any:
        """Run this write alone (inside the group's transaction, if any)."""
        raise NotImplementedError

    @classmethod
    def run_together(cls, conn: sqlite3.Connection, writes: Sequence[Self]) -> list[Any]:
        """Each write's result, or the exception it failed with, in order.

        May raise ``sqlite3.IntegrityError`` (with nothing of it left written)
        when one write conflicts with stored data: the writes then run one by
        one, which names the conflicting one.
        """
        raise NotImplementedError


class _Job:
    """One submitted call and, once run, its outcome."""

    __slots__ = ("error", "future", "loop", "result", "work", "write")

    def __init__(self, work: Work, write: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.work = work
        self.write = write
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.result: Any = None
        self.error: BaseException | None = None


def _settle(jobs: list[_Job]) -> None:
    """Hand outcomes to their futures (on the futures' event loop)."""
    for job in jobs:
        if job.future.cancelled():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


def _unavailable(exc: BaseException) -> UnavailableError:
    error = UnavailableError("store_unavailable", "the store file cannot be used")
    error.__cause__ = exc
    return error


class SqliteWorker:
    """A daemon thread with one connection to ``path``, running submitted jobs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None  # touched only on the thread
        self._thread = threading.Thread(target=self._serve, name="broker-store", daemon=True)
        self._thread.start()
        self._checkpoints = Checkpointer(path)

    def submit(self, work: Work, *, write: bool) -> asyncio.Future[Any]:
        """Queue ``work(connection)``; the future resolves with its outcome."""
        job = _Job(work, write, asyncio.get_running_loop())
        self._queue.put(job)
        return job.future

    def stop(self) -> None:
        """Finish queued jobs, close the connection and end the thread."""
        self._queue.put(None)

    def join(self) -> None:
        """Block until the thread has ended (after ``stop``), and the checkpoints too."""
        self._thread.join()
        self._checkpoints.stop()

    def _serve(self) -> None:
        while True:
            jobs, stopping = self._take()
            self._run_batch(jobs)
            for loop in {job.loop for job in jobs}:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(_settle, [j for j in jobs if j.loop is loop])
            if stopping:
                self._drop_connection()
                return

    def _take(self) -> tuple[list[_Job], bool]:
        """Block for one job, then take whatever else is queued (up to a bound)."""
        first = self._queue.get()
        jobs: list[_Job] = []
        item = first
        while item is not None:
            jobs.append(item)
            if len(jobs) >= MAX_GROUP:
                return jobs, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return jobs, False
        return jobs, True

    def _run_batch(self, jobs: list[_Job]) -> None:
        try:
            self._connection()
        except Exception as exc:  # e.g. a missing directory: nothing can run
            for job in jobs:
                job.error = exc if isinstance(exc, UnavailableError) else _unavailable(exc)
            return
        for job in jobs:
            if not job.write:
                self._run_alone(job)
        writes = [job for job in jobs if job.write]
        if len(writes) == 1:
            self._run_alone(writes[0])
        elif writes:
            self._run_group(writes)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path)
            self._conn.execute("PRAGMA busy_timeout = 0")  # begin_immediate waits instead
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer's thread does
        return self._conn

    def _run_alone(self, job: _Job) -> None:
        try:
            job.result = job.work(self._connection())
        except sqlite3.IntegrityError as exc:
            job.error = ConflictError("store_conflict", "the write conflicts with stored data")
            job.error.__cause__ = exc
        except sqlite3.Error as exc:
            self._drop_connection()
            job.error = _unavailable(exc)
        except BaseException as exc:  # handed to the caller, never lost on the thread
            job.error = exc

    def _run_group(self, writes: list[_Job]) -> None:
        """Run writes in one transaction; each one's own failure stays its own."""
        try:
            conn = self._connection()
            begin_immediate(conn)
            for run in _runs(writes):
                if len(run) == 1:
                    self._run_in_group(conn, run[0])
                else:
                    self._run_together(conn, run)
            conn.execute("COMMIT")
        except Exception as exc:  # a database error, or a bug in a run_together:
            self._fail_group(writes, exc)  # keep nothing of the group, keep the thread

    def _run_in_group(self, conn: sqlite3.Connection, job: _Job) -> None:
        try:
            job.result = job.work(conn)
        except sqlite3.IntegrityError as exc:
            job.error = ConflictError("store_conflict", "the write conflicts with stored data")
            job.error.__cause__ = exc
        except sqlite3.Error:
            raise  # the group's transaction may be broken: fail all of it
        except Exception as exc:  # its savepoint is rolled back; the group goes on
            job.error = exc

    def _run_together(self, conn: sqlite3.Connection, run: list[_Job]) -> None:
        """Run consecutive writes of one ``GroupableWrite`` class as one call."""
        kind = cast(type[GroupableWrite], type(run[0].work))
        try:
            outcomes = kind.run_together(conn, [cast(GroupableWrite, job.work) for job in run])
        except sqlite3.IntegrityError:  # a conflict: one by one names the write that has it
            for job in run:
                self._run_in_group(conn, job)
            return
        for job, outcome in zip(run, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                job.error = outcome
            else:
                job.result = outcome

    def _fail_group(self, writes: list[_Job], exc: Exception) -> None:
        """Nothing of the group was committed: every write in it fails closed."""
        if self._conn is not None:
            rollback(self._conn)
        self._drop_connection()
        for job in writes:
            job.result, job.error = None, _unavailable(exc)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None


def _runs(writes: list[_Job]) -> Iterator[list[_Job]]:
    """The writes in order, cut into single writes and runs of one ``GroupableWrite`` class."""
    run: list[_Job] = []
    for job in writes:
        kind = type(job.work)
        if run and (kind is not type(run[0].work) or not issubclass(kind, GroupableWrite)):
            yield run
            run = []
        run.append(job)
    if run:
        yield run
