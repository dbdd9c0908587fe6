"""The SQLite schema and how a connection to the store file is opened.

Every table is ``WITHOUT ROWID`` keyed by its natural id, so a lookup by id is
one B-tree search. CHECK constraints repeat the domain's closed sets so a bug
elsewhere cannot store a state the code does not know.
"""

from __future__ import annotations

import sqlite3

from broker.errors import UnavailableError

SCHEMA_VERSION = 14
"""5 added the append-only ``audit_anchors`` table (``ANCHORS_DDL``, part of ``DDL``,
whose statements all run again, harmlessly, on every older file); 6 added
``viewer_tokens`` (in ``DDL`` too); 7 added the org's ``require_watch``
(``WATCH_DDL``); 11 keys the anchors by chain, (region, writer)
(``WRITER_ANCHORS_DDL``); 12 added ``consent_requests`` (``CONSENT_REQUESTS_DDL``, in
``DDL``); 13 added ``console_sessions`` and the ``sessions_org`` index (``CONSOLE_DDL``,
in ``DDL``); 14 added the unit registry, ``units`` and ``session_units``
(``UNITS_DDL``, in ``DDL``)."""
SESSIONS_LOST_FOREIGN_KEYS = 3
"""The schema version whose sessions table declares no foreign keys (``SESSIONS_TABLE``)."""
BUSY_TIMEOUT_SECONDS = 5.0

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # NORMAL in WAL mode loses at most the last commits on power loss, never integrity.
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA temp_store = MEMORY",
)

LIVE_STATES_SQL = "('issued', 'connected')"
"""The live session states, for SQL ``IN`` clauses."""

WORLD_TABLES = ("orgs", "staff", "tickets", "targets", "consents")
"""What a grant decision reads: any change to them bumps the ``world_rev`` counter."""
# S608: only the fixed table and operation names above are interpolated.
WORLD_TRIGGERS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS {table}_{op.lower()}_world AFTER {op} ON {table}"  # noqa: S608
    " BEGIN UPDATE counters SET value = value + 1 WHERE name = 'world_rev'; END"
    for table in WORLD_TABLES
    for op in ("INSERT", "UPDATE", "DELETE")
)

SESSIONS_TABLE = """CREATE TABLE IF NOT EXISTS {name} (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        staff_id TEXT NOT NULL,
        target TEXT NOT NULL,
        region TEXT NOT NULL,
        basis TEXT NOT NULL CHECK (basis IN ('intra-eea', 'adequacy', 'scc', 'consent',
                                             'not-eea')),
        state TEXT NOT NULL CHECK (state IN ('issued', 'connected', 'closed', 'revoked',
                                             'expired')),
        created_at INTEGER NOT NULL,
        valid_before INTEGER NOT NULL,
        consent_id TEXT,
        source_address TEXT,
        cert_serial INTEGER,
        ended_at INTEGER,
        end_reason TEXT,
        rev INTEGER NOT NULL
    ) WITHOUT ROWID"""
"""Sessions declare no foreign keys (since schema version 3).

The one statement that inserts a session (``sqlite_create.create_session``)
proves in its own ``WHERE`` that the ticket, its org, the staff member, the
target and the consent exist, and more (open, active, unrevoked), in the
same transaction; no statement changes those columns later, and records are
never deleted. Declared keys checked the same rows a second time: about a
third of an insert's cost, measured with the write lock held."""

ANCHOR_COLUMNS = """region TEXT NOT NULL,
        number INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        segment INTEGER NOT NULL,
        line INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        time TEXT NOT NULL,
        final INTEGER NOT NULL,"""
"""An anchor's columns, as schema version 5 made them (``WRITER_ANCHORS_DDL`` adds ``writer``)."""

ANCHORS_DDL = (
    f"""CREATE TABLE IF NOT EXISTS audit_anchors (
        {ANCHOR_COLUMNS}
        PRIMARY KEY (region, number)
    ) WITHOUT ROWID""",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS audit_anchors_no_{op.lower()} BEFORE {op}
        ON audit_anchors BEGIN SELECT RAISE(ABORT, 'audit anchors are append-only'); END"""
        for op in ("UPDATE", "DELETE")
    ),
)
"""The anchors table; rows are only ever inserted."""

CONSOLE_DDL = (
    """CREATE TABLE IF NOT EXISTS console_sessions (
        digest TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('session', 'link', 'login')),
        subject TEXT NOT NULL,
        role TEXT NOT NULL,
        org TEXT,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        ended_at INTEGER
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS sessions_org ON sessions (org_id, created_at, id)",
)
"""The console's sign-ins (``broker/store/sqlite/console.py``: digests of secrets only), and
the index of a customer admin's sessions page."""

CONSENT_REQUESTS_DDL = (
    """CREATE TABLE IF NOT EXISTS consent_requests (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL,
        region TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        staff_id TEXT NOT NULL,
        staff_country TEXT NOT NULL,
        duration_seconds INTEGER NOT NULL CHECK (duration_seconds > 0),
        reason TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired',
                                             'cancelled')),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        decided_by TEXT,
        decided_at INTEGER,
        granted_seconds INTEGER,
        deny_reason TEXT,
        consent_id TEXT
    ) WITHOUT ROWID""",
    *(
        f"CREATE INDEX IF NOT EXISTS consent_requests_{column} ON consent_requests"
        f" ({column}, created_at, id)"
        for column in ("org_id", "ticket_id", "staff_id")
    ),
    "CREATE INDEX IF NOT EXISTS consent_requests_created ON consent_requests (created_at, id)",
    """CREATE INDEX IF NOT EXISTS consent_requests_due ON consent_requests (expires_at)
        WHERE state = 'pending'""",
)
"""Consent requests (schema version 9). Like sessions they declare no foreign keys:
the one insert proves its ticket, org and staff exist in its own ``WHERE``."""

UNITS_DDL = (
    """CREATE TABLE IF NOT EXISTS units (
        region TEXT NOT NULL,
        unit_id TEXT NOT NULL,
        ssh TEXT NOT NULL,
        viewer TEXT NOT NULL,
        host_key TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        storage_ok INTEGER NOT NULL CHECK (storage_ok IN (0, 1)),
        PRIMARY KEY (region, unit_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS session_units (
        session_id TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        unit_id TEXT NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS session_units_unit ON session_units (region, unit_id)",
)
"""The unit registry (``broker.store.units``): who serves a region, who holds a session."""

DDL = (
    """CREATE TABLE IF NOT EXISTS orgs (
        id TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        tier TEXT NOT NULL CHECK (tier IN ('standard', 'eea_only')),
        record_input INTEGER NOT NULL CHECK (record_input IN (0, 1))
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS staff (
        id TEXT PRIMARY KEY,
        country TEXT NOT NULL,
        active INTEGER NOT NULL CHECK (active IN (0, 1))
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS tickets (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES orgs (id),
        severity INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 4),
        scope TEXT NOT NULL CHECK (scope IN ('product', 'cas', 'professional_services',
                                             'third_party', 'subprocessor')),
        status TEXT NOT NULL CHECK (status IN ('open', 'closed'))
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS targets (
        org_id TEXT NOT NULL REFERENCES orgs (id),
        name TEXT NOT NULL,
        region TEXT NOT NULL,
        host TEXT NOT NULL,
        port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        user TEXT NOT NULL,
        host_key TEXT,
        PRIMARY KEY (org_id, name)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS consents (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES orgs (id),
        ticket_id TEXT NOT NULL REFERENCES tickets (id),
        staff_id TEXT NOT NULL REFERENCES staff (id),
        granted_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS consents_pair ON consents (ticket_id, staff_id)",
    SESSIONS_TABLE.format(name="sessions"),
    "CREATE INDEX IF NOT EXISTS sessions_ticket ON sessions (ticket_id, created_at, id)",
    "CREATE INDEX IF NOT EXISTS sessions_staff ON sessions (staff_id, created_at, id)",
    "CREATE INDEX IF NOT EXISTS sessions_created ON sessions (created_at, id)",
    "CREATE INDEX IF NOT EXISTS sessions_region_rev ON sessions (region, rev)",
    """CREATE INDEX IF NOT EXISTS sessions_consent ON sessions (consent_id)
        WHERE consent_id IS NOT NULL""",
    """CREATE UNIQUE INDEX IF NOT EXISTS sessions_serial ON sessions (cert_serial)
        WHERE cert_serial IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS viewer_tokens (
        digest TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        region TEXT NOT NULL,
        staff_id TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        claimed_at INTEGER
    ) WITHOUT ROWID""",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('session_rev', 0)",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('world_rev', 0)",
    *WORLD_TRIGGERS,
    *ANCHORS_DDL,
    *CONSOLE_DDL,
    *CONSENT_REQUESTS_DDL,
    *UNITS_DDL,
)


ACCESS_COLUMNS = 4
"""The schema version that added the access columns (``ACCESS_DDL``)."""

ACCESS_DDL = (
    "ALTER TABLE orgs ADD COLUMN terminal_access INTEGER NOT NULL DEFAULT 0"
    " CHECK (terminal_access IN (0, 1))",
    "ALTER TABLE consents ADD COLUMN waives_eea_only INTEGER NOT NULL DEFAULT 0"
    " CHECK (waives_eea_only IN (0, 1))",
    "ALTER TABLE sessions ADD COLUMN access TEXT NOT NULL DEFAULT 'terminal'"
    " CHECK (access IN ('view', 'terminal'))",
)
"""Schema version 4: an org's opt-in to terminals, a consent's EEA-only waiver and
each session's access mode. ``DDL`` keeps the version-3 tables and these run
after it on every file older than 4, a new one included, so there is one shape
whichever way a file got here. Rows from before keep what they meant: no
opt-in, no waiver, and terminal sessions (the only kind there was)."""

WATCH_COLUMN = 7
"""The schema version that added ``orgs.require_watch`` (``WATCH_DDL``)."""
WATCH_DDL = (
    "ALTER TABLE orgs ADD COLUMN require_watch INTEGER NOT NULL DEFAULT 0"
    " CHECK (require_watch IN (0, 1))",
)
"""Off for every org from before: a session waits for a watcher only once asked."""

WRITER_ANCHORS = 11
"""The schema version that keys ``audit_anchors`` by (region, writer, number)."""
WRITER_ANCHORS_DDL = (
    f"""CREATE TABLE audit_anchors_w (
        {ANCHOR_COLUMNS}
        writer TEXT NOT NULL,
        PRIMARY KEY (region, writer, number)
    ) WITHOUT ROWID""",
    "INSERT INTO audit_anchors_w SELECT *, 'main' FROM audit_anchors",
    "DROP TABLE audit_anchors",  # and its triggers; ANCHORS_DDL's make them again
    "ALTER TABLE audit_anchors_w RENAME TO audit_anchors",
    *ANCHORS_DDL[1:],
)
"""Each writer of a region anchors its own chain, numbered on its own: the key
gains ``writer``, so SQLite needs the table copied (it cannot change a key).
Rows from before were the one writer's, ``main``. Like ``ACCESS_DDL`` this runs
on every file older than 11, a new one included (after ``DDL`` made the old
shape), so there is one shape whichever way a file got here."""

_SESSIONS_WITHOUT_FOREIGN_KEYS = (
    SESSIONS_TABLE.format(name="sessions_v3"),
    "INSERT INTO sessions_v3 SELECT * FROM sessions",  # same columns, same order
    "DROP TABLE sessions",  # and its indexes; DDL makes them again on the new table
    "ALTER TABLE sessions_v3 RENAME TO sessions",
)
"""Schema versions 1 and 2 to 3: SQLite cannot drop a constraint, so the
sessions table is copied into one without them, inside the migration's
transaction."""


def connect(path: str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open the store file, set its pragmas and bring the schema up to date.

    Autocommit mode (``isolation_level=None``): the store issues ``BEGIN``
    itself, so write transactions take the lock up front (``IMMEDIATE``).
    """
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=check_same_thread,
    )
    try:
        for pragma in _PRAGMAS:
            conn.execute(pragma)
        _migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise UnavailableError("store_schema_newer", "the store file is from a newer broker")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if 0 < version < SESSIONS_LOST_FOREIGN_KEYS:  # 0: a new file, nothing to copy
            for statement in _SESSIONS_WITHOUT_FOREIGN_KEYS:
                conn.execute(statement)
        for statement in DDL:
            conn.execute(statement)
        for added_in, statements in (
            (ACCESS_COLUMNS, ACCESS_DDL),
            (WATCH_COLUMN, WATCH_DDL),
            (WRITER_ANCHORS, WRITER_ANCHORS_DDL),
        ):
            if version < added_in:
                for statement in statements:
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
