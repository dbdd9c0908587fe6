"""The unit registry in DynamoDB (see ``broker.store.units``).

A unit is the item ``UNIT#<region>`` / ``<unit id>``; the sessions it holds
are items ``HELD#<region>#<unit id>`` / ``<session id>``, so both lists are
one consistent query. A session moved to another unit is deleted from its
former holder's list in the same transaction.
"""

from __future__ import annotations

from broker.aws.dynamodb.table import Table, serialize
from broker.store.units import UNIT_FIELDS, UnitRecord, unit_from_row
from broker.typing import Region, SessionId, UnitId


def _unit_pk(region: Region) -> str:
    return f"UNIT#{region}"


def _held_pk(region: Region, unit_id: UnitId) -> str:
    return f"HELD#{region}#{unit_id}"


def put_unit(table: Table, unit: UnitRecord) -> None:
    """Put the unit's item (registration and heartbeat alike)."""
    item = {name: getattr(unit, name) for name in UNIT_FIELDS}
    item.update(pk=_unit_pk(unit.region), sk=unit.unit_id)
    table.call("put_item", Item=serialize(item))


def list_units(table: Table, region: Region) -> list[UnitRecord]:
    """Every unit of ``region`` ever registered, by id (a consistent query)."""
    return [
        unit_from_row(item) for item in table.query(None, "#pk = :pk", {":pk": _unit_pk(region)})
    ]


def hold_session(table: Table, session_id: SessionId, region: Region, unit_id: UnitId) -> None:
    """Record ``unit_id`` as the unit relaying ``session_id``; a former holder forgets it."""
    key = {"pk": f"HOLDER#{session_id}", "sk": "-"}
    old = table.get((key["pk"], key["sk"]))
    items = [{"Put": {"TableName": table.name, "Item": serialize({**key, "unit_id": unit_id})}}]
    held = {"pk": _held_pk(region, unit_id), "sk": session_id}
    items.append({"Put": {"TableName": table.name, "Item": serialize(held)}})
    if old is not None and old["unit_id"] != unit_id:
        former = {"pk": _held_pk(region, UnitId(str(old["unit_id"]))), "sk": session_id}
        items.append({"Delete": {"TableName": table.name, "Key": serialize(former)}})
    table.transact(items)


def held_sessions(table: Table, region: Region, unit_id: UnitId) -> list[SessionId]:
    """The sessions ``unit_id`` of ``region`` accepted, live or not, by id."""
    items = table.query(None, "#pk = :pk", {":pk": _held_pk(region, unit_id)})
    return [SessionId(str(item["sk"])) for item in items]
