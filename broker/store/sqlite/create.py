"""Creating sessions in the SQLite store, one at a time or many in one statement.

A session is inserted by one conditional statement whose ``WHERE`` proves,
in the same transaction, that its ticket is open in its org's region, its
staff member active, its target the org's in that region, its consent (if
any) valid for its whole life, and (given one) that the records the grant
decided over are still at the revision it read. Only when the insert matched
nothing is anything read, to say why.

Grants arrive together under load, and the store's worker thread commits
the writes queued meanwhile as one group (``broker.store.sqlite.worker``).
A run of inserts in a group goes in as ONE statement over a JSON array of
rows (``SessionInsert.run_together``). One by one, each insert cost five
statements (a savepoint, the revision, the insert, the release), and the
thread gave up and took back the interpreter lock around each of them while
the event loop wanted it too, all the while holding SQLite's write lock
(which the other API process's writer waits for); together, a run costs two
statements: the insert, then advancing the revision counter past it.
With 32 concurrent grants the store thread's cost per grant fell from 152
to 93 us (docs/benchmarks.md). Each insert keeps its own
answer: one refused by its conditions is named alone, and a conflict with
stored data (a taken id or serial) sends the run back to one by one, which
names the insert that conflicts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from broker.errors import BrokerError, ConflictError, InputError, NotFoundError, RegionMismatch
from broker.models import Session
from broker.store.checks import check_new_session
from broker.store.encoding import to_micros
from broker.store.sqlite.codec import SESSION_COLUMNS, serial_to_db
from broker.store.sqlite.tx import SESSION_REV, advance_rev, insert_once, next_rev, write_tx
from broker.store.sqlite.worker import GroupableWrite

# S608 below: only the fixed column list from codec is interpolated; values are bound.
_CREATE = f"""
INSERT INTO sessions ({SESSION_COLUMNS}, rev)
SELECT :id, :org_id, :ticket_id, :staff_id, :target, :region, :basis, 'issued', :created_at,
       :valid_before, :consent_id, :source_address, :cert_serial, NULL, NULL, :access, :rev
WHERE EXISTS (SELECT 1 FROM tickets t JOIN orgs o ON o.id = t.org_id
              WHERE t.id = :ticket_id AND t.org_id = :org_id AND t.status = 'open'
                AND o.region = :region)
  AND EXISTS (SELECT 1 FROM staff WHERE id = :staff_id AND active = 1)
  AND EXISTS (SELECT 1 FROM targets WHERE org_id = :org_id AND name = :target
                AND region = :region)
  AND (:consent_id IS NULL OR EXISTS (
        SELECT 1 FROM consents WHERE id = :consent_id AND ticket_id = :ticket_id
          AND staff_id = :staff_id AND revoked_at IS NULL AND expires_at > :created_at
          AND expires_at >= :valid_before))
  AND (:world_rev IS NULL
       OR (SELECT value FROM counters WHERE name = 'world_rev') = :world_rev)
"""  # noqa: S608
_TICKET = (
    "SELECT t.org_id, t.status, o.region FROM tickets t JOIN orgs o ON o.id = t.org_id"
    " WHERE t.id = ?"
)
_STAFF = "SELECT active FROM staff WHERE id = ?"
_TARGET = "SELECT region FROM targets WHERE org_id = ? AND name = ?"
_CONSENT = "SELECT ticket_id, staff_id, revoked_at, expires_at FROM consents WHERE id = ?"
WORLD_REV = "SELECT value FROM counters WHERE name = 'world_rev'"


def world_revision_now(conn: sqlite3.Connection) -> int:
    """The revision of everything a grant reads (bumped by triggers on every change)."""
    (rev,) = conn.execute(WORLD_REV).fetchone()
    return int(rev)


def create_session(
    conn: sqlite3.Connection, session: Session, world_revision: int | None = None
) -> Session:
    """Insert an ``issued`` session if the world is still as the policy saw it."""
    params = _create_params(session)
    params["world_rev"] = world_revision
    with write_tx(conn):
        params["rev"] = next_rev(conn)
        insert_once(
            conn,
            _CREATE,
            params,
            taken=lambda: ConflictError(
                "session_exists", "the session id or serial is taken", session_id=session.id
            ),
            refused=lambda: _why_not_created(conn, session, world_revision),
        )
    return session


_FIELDS = (
    "id",
    "org_id",
    "ticket_id",
    "staff_id",
    "target",
    "region",
    "basis",
    "created_at",
    "valid_before",
    "consent_id",
    "source_address",
    "cert_serial",
    "access",
)
"""What an insert binds of a new session, in this order (``world_rev`` follows)."""


def _create_values(session: Session) -> list[Any]:
    check_new_session(session)
    serial = None if session.cert_serial is None else serial_to_db(session.cert_serial)
    return [
        session.id,
        session.org_id,
        session.ticket_id,
        session.staff_id,
        session.target,
        session.region,
        session.basis,
        to_micros(session.created_at, "created_at"),
        to_micros(session.valid_before, "valid_before"),
        session.consent_id,
        session.source_address,
        serial,
        session.access,
    ]


def _create_params(session: Session) -> dict[str, Any]:
    return dict(zip(_FIELDS, _create_values(session), strict=True))


def _why_not_created(
    conn: sqlite3.Connection, session: Session, world_revision: int | None
) -> BrokerError:
    """Name the precondition that failed (read inside the failed transaction).

    A changed world comes first: whatever else failed is a consequence of that
    change, and the caller decides again over the new records (the policy
    then gives its own reasons, e.g. for a staff member deactivated meanwhile).
    """
    if world_revision is not None and world_revision != world_revision_now(conn):
        return ConflictError("world_changed", "the records the decision read changed meanwhile")
    for check in (_ticket_problem, _staff_problem, _target_problem, _consent_problem):
        problem = check(conn, session)
        if problem is not None:
            return problem
    return ConflictError("session_conflict", "the session could not be created")


def _ticket_problem(conn: sqlite3.Connection, session: Session) -> BrokerError | None:
    row = conn.execute(_TICKET, (session.ticket_id,)).fetchone()
    if row is None:
        return NotFoundError("ticket_not_found", "unknown ticket", ticket_id=session.ticket_id)
    if row[0] != session.org_id:
        return InputError("org_id", "is not the ticket's org")
    if row[2] != session.region:
        return RegionMismatch("region_mismatch", "the session region is not the org's region")
    if row[1] != "open":
        return ConflictError("ticket_closed", "the ticket is closed", ticket_id=session.ticket_id)
    return None


def _staff_problem(conn: sqlite3.Connection, session: Session) -> BrokerError | None:
    row = conn.execute(_STAFF, (session.staff_id,)).fetchone()
    if row is None:
        return NotFoundError("staff_not_found", "unknown staff member", staff_id=session.staff_id)
    if not row[0]:
        return ConflictError("staff_inactive", "the staff member is inactive")
    return None


def _target_problem(conn: sqlite3.Connection, session: Session) -> BrokerError | None:
    row = conn.execute(_TARGET, (session.org_id, session.target)).fetchone()
    if row is None:
        return NotFoundError("target_not_found", "unknown target", org_id=session.org_id)
    if row[0] != session.region:
        return RegionMismatch("region_mismatch", "the target is in another region")
    return None


def _consent_problem(conn: sqlite3.Connection, session: Session) -> BrokerError | None:
    if session.consent_id is None:
        return None
    row = conn.execute(_CONSENT, (session.consent_id,)).fetchone()
    if row is None:
        return NotFoundError("consent_not_found", "unknown consent", consent_id=session.consent_id)
    if (row[0], row[1]) != (session.ticket_id, session.staff_id):
        return InputError("consent_id", "names another ticket or staff member")
    return ConflictError(
        "consent_invalid",
        "the consent is revoked, expired or ends before the session",
        consent_id=session.consent_id,
    )


def _row(index: int) -> str:
    return f"json_extract(r.value, '$[{index}]')"


_ROW = {name: _row(index) for index, name in enumerate((*_FIELDS, "world_rev"))}
"""Each bound name of ``_CREATE`` as the matching element of a row of ``_CREATE_MANY``."""


def _over_rows(one: str) -> str:
    """The one-session insert over a JSON array of rows: each bound name becomes its element."""
    many = one.replace(":rev\n", f"r.key + 1 + ({SESSION_REV})\nFROM json_each(:rows) AS r\n", 1)
    for name in sorted(_ROW, key=len, reverse=True):  # :consent_id before :id
        many = many.replace(f":{name}", _ROW[name])
    return many


_CREATE_MANY = _over_rows(_CREATE)
_REVS_OF = (
    "SELECT rev FROM sessions WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?))"
)


@dataclass(frozen=True, slots=True)
class SessionInsert(GroupableWrite):
    """``create_session`` as work for the store's thread: alone, or with its neighbours."""

    session: Session
    world_revision: int | None = None

    def __call__(self, conn: sqlite3.Connection) -> Session:
        return create_session(conn, self.session, self.world_revision)

    @classmethod
    def run_together(
        cls, conn: sqlite3.Connection, writes: Sequence[SessionInsert]
    ) -> list[Session | BrokerError]:
        """Every insert's session, or the error naming why it was refused (in order)."""
        return create_sessions(conn, writes)


def create_sessions(
    conn: sqlite3.Connection, inserts: Sequence[SessionInsert]
) -> list[Session | BrokerError]:
    """Insert many ``issued`` sessions with one statement; each keeps its own answer.

    Runs inside a write transaction (the worker's group commit).

    Raises ``sqlite3.IntegrityError``, with nothing of it left written, when
    one of them conflicts with stored data: the caller then inserts them one
    by one to learn which.
    """
    outcomes: list[Session | BrokerError] = []
    rows: list[list[Any]] = []
    for insert in inserts:
        try:
            rows.append([*_create_values(insert.session), insert.world_revision])
        except BrokerError as error:  # a malformed session fails alone, before any SQL
            outcomes.append(error)
            continue
        outcomes.append(insert.session)
    if rows:
        payload = orjson.dumps(rows)
        if _insert_rows(conn, payload, len(rows)) < len(rows):
            _name_the_refused(conn, inserts, outcomes, payload, len(rows))
    return outcomes


def _insert_rows(conn: sqlite3.Connection, payload: bytes, count: int) -> int:
    """Insert what the rows' conditions allow, row ``i`` at revision ``now + 1 + i``.

    Returns how many went in. Runs inside the group's transaction, as two
    statements and no savepoint: the insert only reads the revision counter,
    so a conflict that undoes the insert leaves nothing else to undo (the
    caller then goes one by one).
    """
    inserted = int(conn.execute(_CREATE_MANY, {"rows": payload}).rowcount)
    advance_rev(conn, count)
    return inserted


def _name_the_refused(
    conn: sqlite3.Connection,
    inserts: Sequence[SessionInsert],
    outcomes: list[Session | BrokerError],
    payload: bytes,
    count: int,
) -> None:
    """Replace each refused insert's outcome by the reason it was refused.

    Row ``i`` went in if a session with its id holds the run's revision ``i``:
    the run's ``count`` revisions end at the counter now (advanced inside this
    transaction), and two inserts of a run may carry the same id (the second
    refused by a condition, say).
    """
    (last,) = conn.execute(SESSION_REV).fetchone()
    first_rev = int(last) - count + 1
    taken = {rev - first_rev for (rev,) in conn.execute(_REVS_OF, (payload,))}
    row = 0
    for index, (insert, outcome) in enumerate(zip(inserts, outcomes, strict=True)):
        if not isinstance(outcome, Session):
            continue  # malformed: it never became a row
        if row not in taken:
            outcomes[index] = _why_not_created(conn, insert.session, insert.world_revision)
        row += 1
