"""``import_bundle`` for the SQLite store: validate, then upsert in one transaction.

Value checks need no database and run first. Reference checks read the store
inside the write transaction, so a concurrent import cannot slip an org change
between the check and the upsert. Errors name the field by path
(``targets[2].region``) and never echo the value.
"""

from __future__ import annotations

import sqlite3

from broker.errors import InputError
from broker.models import Org
from broker.store.base import ImportBundle, ImportCounts, setting_changes
from broker.store.checks import check_values
from broker.store.sqlite.codec import ORG_COLUMNS, org_from_row
from broker.store.sqlite.tx import revoke_live, write_tx
from broker.typing import Region

_UPSERT_ORG = """
INSERT INTO orgs (id, region, tier, record_input, terminal_access, require_watch)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
  region = excluded.region, tier = excluded.tier, record_input = excluded.record_input,
  terminal_access = excluded.terminal_access, require_watch = excluded.require_watch
"""
_UPSERT_STAFF = """
INSERT INTO staff (id, country, active) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET country = excluded.country, active = excluded.active
"""
_UPSERT_TICKET = """
INSERT INTO tickets (id, org_id, severity, scope, status) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
  severity = excluded.severity, scope = excluded.scope, status = excluded.status
"""
_UPSERT_TARGET = """
INSERT INTO targets (org_id, name, region, host, port, user, host_key)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (org_id, name) DO UPDATE SET
  region = excluded.region, host = excluded.host, port = excluded.port,
  user = excluded.user, host_key = excluded.host_key
"""
_ORG_REGION = "SELECT region FROM orgs WHERE id = ?"
_ORG = f"SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?"  # noqa: S608 - fixed column list
_TICKET_ORG = "SELECT org_id FROM tickets WHERE id = ?"


def import_bundle(conn: sqlite3.Connection, bundle: ImportBundle, at: int) -> ImportCounts:
    """Upsert everything or nothing; closing or deactivating revokes live sessions."""
    check_values(bundle)
    with write_tx(conn):
        stored = _check_references(conn, bundle)
        _upsert(conn, bundle)
        # Fail closed: an import must not leave a live session on a closed ticket.
        closed = [t.id for t in bundle.tickets if t.status == "closed"]
        inactive = [s.id for s in bundle.staff if not s.active]
        revoked = [
            s for t in closed for s in revoke_live(conn, "ticket_id", t, "ticket_closed", at)
        ]
        revoked += [
            s for p in inactive for s in revoke_live(conn, "staff_id", p, "staff_deactivated", at)
        ]
    return ImportCounts(
        orgs=len(bundle.orgs),
        staff=len(bundle.staff),
        tickets=len(bundle.tickets),
        targets=len(bundle.targets),
        revoked=tuple(revoked),
        settings=setting_changes(bundle.orgs, stored),
    )


def _check_references(conn: sqlite3.Connection, bundle: ImportBundle) -> dict[str, Org | None]:
    """Check what the bundle refers to; the bundle's orgs as stored before it (or None)."""
    regions: dict[str, Region | None] = {}
    before: dict[str, Org | None] = {}
    for index, org in enumerate(bundle.orgs):
        row = conn.execute(_ORG, (org.id,)).fetchone()
        before[org.id] = stored = None if row is None else org_from_row(row)
        if stored is not None and stored.region != org.region:
            raise InputError(f"orgs[{index}].region", "an existing org cannot change region")
        regions[org.id] = org.region
    for index, ticket in enumerate(bundle.tickets):
        if _region(conn, regions, ticket.org_id) is None:
            raise InputError(f"tickets[{index}].org_id", "names an unknown org")
        row = conn.execute(_TICKET_ORG, (ticket.id,)).fetchone()
        if row is not None and row[0] != ticket.org_id:
            raise InputError(f"tickets[{index}].org_id", "an existing ticket cannot change org")
    for index, target in enumerate(bundle.targets):
        region = _region(conn, regions, target.org_id)
        if region is None:
            raise InputError(f"targets[{index}].org_id", "names an unknown org")
        if target.region != region:
            raise InputError(f"targets[{index}].region", "must be the org's region")
    return before


def _region(
    conn: sqlite3.Connection, known: dict[str, Region | None], org_id: str
) -> Region | None:
    if org_id not in known:
        known[org_id] = _stored_region(conn, org_id)
    return known[org_id]


def _stored_region(conn: sqlite3.Connection, org_id: str) -> Region | None:
    row = conn.execute(_ORG_REGION, (org_id,)).fetchone()
    return None if row is None else Region(row[0])


def _upsert(conn: sqlite3.Connection, bundle: ImportBundle) -> None:
    conn.executemany(
        _UPSERT_ORG,
        [
            (
                o.id,
                o.region,
                o.tier,
                int(o.record_input),
                int(o.terminal_access),
                int(o.require_watch),
            )
            for o in bundle.orgs
        ],
    )
    conn.executemany(_UPSERT_STAFF, [(s.id, s.country, int(s.active)) for s in bundle.staff])
    conn.executemany(
        _UPSERT_TICKET,
        [(t.id, t.org_id, t.severity, t.scope, t.status) for t in bundle.tickets],
    )
    conn.executemany(
        _UPSERT_TARGET,
        [(t.org_id, t.name, t.region, t.host, t.port, t.user, t.host_key) for t in bundle.targets],
    )
