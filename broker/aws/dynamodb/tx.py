"""Building one ``TransactWriteItems`` call: merged updates, puts, checks, revisions.

Several concerns of one operation may touch the same item (a cascade removes
a session from a staff member's ``live`` set while an import updates that
staff member), but a transaction may name each item once: ``Tx`` merges all
changes to one key into a single ``Update``. Condition placeholders are
renamed per call, so callers write plain ``:name`` and ``#attr`` tokens.

Revisions: ``log_change`` takes the next revision of a region and writes a
change-log entry; the transaction moves the region's counter from the value
read to the new one, conditional on it being unchanged. Revisions therefore
commit in order, so a poller that reads the counter and then the log misses
nothing.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from broker.aws.dynamodb.codec import Item, Key, change_key, counter_key
from broker.aws.dynamodb.table import MAX_TX_ITEMS, Cancelled, Table, key_of, serialize
from broker.errors import BrokerError, ConflictError

R = TypeVar("R")
_NAME = re.compile(r"#(\w+)")
_VALUE = re.compile(r":(\w+)")


class TooBig(Exception):
    """The operation needs more items than one transaction can hold."""


@dataclass
class _Update:
    sets: dict[str, Any] = field(default_factory=dict)
    adds: dict[str, Any] = field(default_factory=dict)
    deletes: dict[str, set[str]] = field(default_factory=dict)
    conds: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class Tx:
    """The items of one transaction on ``table``."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._updates: dict[Key, _Update] = {}
        self._others: list[dict[str, Any]] = []
        self._counters: dict[str, tuple[int, int]] = {}
        self._seq = itertools.count()

    def _rename(self, expr: str, values: dict[str, Any], into: dict[str, Any]) -> str:
        tag = f"c{next(self._seq)}_"
        for name, value in values.items():
            into[f":{tag}{name}"] = value
        return _VALUE.sub(lambda m: f":{tag}{m[1]}", expr)

    def update(self, key: Key, *, cond: str | None = None, **values: Any) -> _Update:
        """The merged update of ``key``, adding the condition ``cond`` if given."""
        found = self._updates.setdefault(key, _Update())
        if cond is not None:
            found.conds.append(f"({self._rename(cond, values, found.values)})")
        return found

    def set(self, key: Key, **attrs: Any) -> None:
        """SET attributes of ``key``."""
        self.update(key).sets.update(attrs)

    def add(self, key: Key, attr: str, amount: int) -> None:
        """ADD ``amount`` to a numeric attribute."""
        adds = self.update(key).adds
        adds[attr] = adds.get(attr, 0) + amount

    def unlink(self, key: Key, session_id: str) -> None:
        """Remove a session from the record's ``live`` set and bump its ``ver``."""
        self.update(key).deletes.setdefault("live", set()).add(session_id)
        self.add(key, "ver", 1)

    def link(self, key: Key, session_id: str, cond: str, **values: Any) -> None:
        """Add a session to the record's ``live`` set, under ``cond``, and bump ``ver``."""
        adds = self.update(key, cond=cond, **values).adds
        adds["live"] = {*adds.get("live", set()), session_id}
        self.add(key, "ver", 1)

    def put(self, key: Key, item: Item, cond: str | None = None, **values: Any) -> None:
        """Put a whole item (optionally conditional)."""
        body = {k: v for k, v in item.items() if v is not None}
        action: dict[str, Any] = {
            "TableName": self.table.name,
            "Item": serialize({**body, "pk": key[0], "sk": key[1]}),
        }
        self._conditional(action, cond, values)
        self._others.append({"Put": action})

    def check(self, key: Key, cond: str, **values: Any) -> None:
        """A condition on an item the transaction does not change."""
        action: dict[str, Any] = {"TableName": self.table.name, "Key": key_of(key)}
        self._conditional(action, cond, values)
        self._others.append({"ConditionCheck": action})

    def _conditional(
        self, action: dict[str, Any], cond: str | None, values: dict[str, Any]
    ) -> None:
        if cond is None:
            return
        renamed: dict[str, Any] = {}
        action["ConditionExpression"] = self._rename(cond, values, renamed)
        names = {f"#{n}": n for n in _NAME.findall(cond)}
        if names:
            action["ExpressionAttributeNames"] = names
        if renamed:
            action["ExpressionAttributeValues"] = serialize(renamed)

    def log_change(self, region: str, session_id: str) -> int:
        """The next revision of ``region``, with its change-log entry."""
        if region not in self._counters:
            stored = self.table.get(counter_key(region))
            value = 0 if stored is None else int(stored["value"])
            self._counters[region] = (value, value)
        start, last = self._counters[region]
        self._counters[region] = (start, last + 1)
        self.put(change_key(region, last + 1), {"sid": session_id})
        return last + 1

    def commit(self) -> None:
        """Send the transaction (``Cancelled`` from the table if it fails)."""
        for region, (start, last) in self._counters.items():
            cond = "attribute_not_exists(#value)" if start == 0 else "#value = :old"
            self.update(counter_key(region), cond=cond, old=start).sets["value"] = last
        actions = [*self._others, *(self._update_action(k, u) for k, u in self._updates.items())]
        if len(actions) > MAX_TX_ITEMS:
            raise TooBig(len(actions))
        if actions:
            self.table.transact(actions)

    def _update_action(self, key: Key, update: _Update) -> dict[str, Any]:
        names: dict[str, str] = {}
        values = dict(update.values)
        clauses: list[str] = []
        for verb, attrs in (("SET", update.sets), ("ADD", update.adds), ("DELETE", update.deletes)):
            parts = []
            for attr, value in attrs.items():
                names[f"#{attr}"] = attr
                placeholder = f":u_{attr}"
                values[placeholder] = value
                parts.append(
                    f"#{attr} = {placeholder}" if verb == "SET" else f"#{attr} {placeholder}"
                )
            if parts:
                clauses.append(f"{verb} {', '.join(parts)}")
        action: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": key_of(key),
            "UpdateExpression": " ".join(clauses),
        }
        if update.conds:
            action["ConditionExpression"] = " AND ".join(update.conds)
            names.update({f"#{n}": n for c in update.conds for n in _NAME.findall(c)})
        if names:
            action["ExpressionAttributeNames"] = names
        if values:
            action["ExpressionAttributeValues"] = serialize(values)
        return {"Update": action}


MAX_ATTEMPTS = 12


def retrying(
    table: Table, attempt: Callable[[], R], explain: Callable[[], BrokerError | None]
) -> R:
    """Run ``attempt()`` until it commits; after a cancellation ``explain()`` names a
    lasting reason (raised) or returns None for a lost race (retried with jitter)."""
    for round_ in range(MAX_ATTEMPTS):
        try:
            return attempt()
        except Cancelled:
            error = explain()
            if error is not None:
                raise error from None
        time.sleep(random.uniform(0, 0.005 * 2 ** min(round_, 6)))  # noqa: S311 - jitter only
    raise ConflictError("store_contended", "the record kept changing; try again")


def put_new(table: Table, key: Key, item: Item, conflict: BrokerError) -> None:
    """Put an item whose key must be new (a viewer token, a console record); else ``conflict``."""

    def attempt() -> None:
        tx = Tx(table)
        tx.put(key, item, "attribute_not_exists(#pk)")
        tx.commit()

    retrying(table, attempt, lambda: conflict)
