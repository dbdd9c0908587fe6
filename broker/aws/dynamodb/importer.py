"""``import_bundle`` for the DynamoDB store: one ``TransactWriteItems``, all or nothing.

Value checks run first (shared with SQLite). Reference checks read the store,
and every fact they relied on becomes a condition of the transaction (an org
keeps its region, a ticket its org, a referenced org still exists), so a
concurrent change cancels the import, which then re-checks and retries.
A bundle needing more than 100 transaction items is refused: split it.
"""

from __future__ import annotations

from broker.aws.dynamodb.cascade import guard, live_sessions, revoke_all
from broker.aws.dynamodb.codec import (
    Item,
    Key,
    org_from_item,
    org_item,
    org_key,
    session_from_item,
    staff_key,
    target_item,
    target_key,
    ticket_key,
)
from broker.aws.dynamodb.table import Table
from broker.aws.dynamodb.tx import TooBig, Tx, retrying
from broker.errors import InputError
from broker.models import Org
from broker.store.base import (
    AUDITED_ORG_SETTINGS,
    ImportBundle,
    ImportCounts,
    SettingChange,
    setting_changes,
)
from broker.store.checks import check_values


def import_bundle(table: Table, bundle: ImportBundle, at_us: int) -> ImportCounts:
    """Upsert everything or nothing; closing or deactivating revokes live sessions."""
    check_values(bundle)
    try:
        revoked, settings = retrying(table, lambda: _attempt(table, bundle, at_us), lambda: None)
    except TooBig as error:
        raise InputError("bundle", "too many records for one transaction; split it") from error
    return ImportCounts(
        orgs=len(bundle.orgs),
        staff=len(bundle.staff),
        tickets=len(bundle.tickets),
        targets=len(bundle.targets),
        revoked=tuple(session_from_item(item) for item in revoked),
        settings=settings,
    )


def _attempt(
    table: Table, bundle: ImportBundle, at_us: int
) -> tuple[list[Item], tuple[SettingChange, ...]]:
    referenced = [t.org_id for t in bundle.tickets] + [t.org_id for t in bundle.targets]
    keys = [org_key(o) for o in referenced] + [org_key(o.id) for o in bundle.orgs]
    keys += [ticket_key(t.id) for t in bundle.tickets] + [staff_key(s.id) for s in bundle.staff]
    stored = table.get_many(keys)
    regions = _check_references(bundle, stored)
    tx = Tx(table)
    before = _stored_orgs(bundle, stored)
    for org in bundle.orgs:
        tx.update(org_key(org.id), cond="attribute_not_exists(#pk) OR #region = :r", r=org.region)
        _unchanged_settings(tx, before[org.id], org)
        tx.set(org_key(org.id), **org_item(org))
    for org_id in set(referenced) - {o.id for o in bundle.orgs}:
        tx.check(org_key(org_id), "#region = :r", r=regions[org_id])
    _upsert_people(tx, bundle)
    for target in bundle.targets:
        tx.put(target_key(target.org_id, target.name), target_item(target))
    revoked = _cut(tx, table, bundle, stored, at_us)
    tx.commit()
    return revoked, setting_changes(bundle.orgs, before)


def _stored_orgs(bundle: ImportBundle, stored: dict[Key, Item]) -> dict[str, Org | None]:
    """The bundle's orgs as stored before it (None for a new one)."""
    items = {org.id: stored.get(org_key(org.id)) for org in bundle.orgs}
    return {o: None if i is None else org_from_item(i, o) for o, i in items.items()}


def _unchanged_settings(tx: Tx, before: Org | None, org: Org) -> None:
    """Make the audited old value a condition: a concurrent change cancels and retries."""
    if before is None:
        return
    conds = []
    values: dict[str, bool] = {}
    for n, key in enumerate(AUDITED_ORG_SETTINGS):
        values[f"s{n}"] = old = bool(getattr(before, key))
        cond = f"#{key} = :s{n}"
        conds.append(cond if old else f"(attribute_not_exists(#{key}) OR {cond})")
    tx.update(org_key(org.id), cond=" AND ".join(conds), **values)


def _upsert_people(tx: Tx, bundle: ImportBundle) -> None:
    for staff in bundle.staff:
        tx.set(
            staff_key(staff.id),
            id=staff.id,
            country=staff.country,
            active=staff.active,
            kind="staff",
            ksk=staff.id,
        )
    for t in bundle.tickets:
        key = ticket_key(t.id)
        tx.update(key, cond="attribute_not_exists(#pk) OR #org_id = :o", o=t.org_id)
        tx.set(key, id=t.id, org_id=t.org_id, severity=t.severity, scope=t.scope, status=t.status)


def _cut(
    tx: Tx, table: Table, bundle: ImportBundle, stored: dict[Key, Item], at_us: int
) -> list[Item]:
    """Revoke live sessions of tickets closed and staff deactivated by the import."""
    causes = [(ticket_key(t.id), "ticket_closed") for t in bundle.tickets if t.status == "closed"]
    causes += [(staff_key(s.id), "staff_deactivated") for s in bundle.staff if not s.active]
    seen: set[str] = set()
    revoked: list[Item] = []
    for key, reason in causes:
        record = stored.get(key)
        if record is None:
            continue
        guard(tx, key, record)
        fresh = [i for i in live_sessions(table, record) if i["id"] not in seen]
        seen.update(i["id"] for i in fresh)
        revoke_all(tx, fresh, reason, at_us)
        revoked += fresh
    return revoked


def _check_references(bundle: ImportBundle, stored: dict[Key, Item]) -> dict[str, str]:
    """The region of every org the bundle names; ``InputError`` naming the field."""
    regions = _org_regions(bundle, stored)
    for index, ticket in enumerate(bundle.tickets):
        if ticket.org_id not in regions:
            raise InputError(f"tickets[{index}].org_id", "names an unknown org")
        old = stored.get(ticket_key(ticket.id))
        if old is not None and old["org_id"] != ticket.org_id:
            raise InputError(f"tickets[{index}].org_id", "an existing ticket cannot change org")
    for index, target in enumerate(bundle.targets):
        if target.org_id not in regions:
            raise InputError(f"targets[{index}].org_id", "names an unknown org")
        if target.region != regions[target.org_id]:
            raise InputError(f"targets[{index}].region", "must be the org's region")
    return regions


def _org_regions(bundle: ImportBundle, stored: dict[Key, Item]) -> dict[str, str]:
    """Regions of the bundle's orgs (which may not move) and of stored orgs it references."""
    regions: dict[str, str] = {}
    for index, org in enumerate(bundle.orgs):
        old = stored.get(org_key(org.id))
        if old is not None and old["region"] != org.region:
            raise InputError(f"orgs[{index}].region", "an existing org cannot change region")
        regions[org.id] = org.region
    for org_id in [t.org_id for t in bundle.tickets] + [t.org_id for t in bundle.targets]:
        old = stored.get(org_key(org_id))
        if org_id not in regions and old is not None:
            regions[org_id] = old["region"]
    return regions
