"""The audit anchors in DynamoDB: one partition per chain (see ``broker.store.anchors``).

``main``'s chain keeps the partition ``ANCHOR#<region>`` it had before writers
existed (its items from then have no ``writer``); every other writer's chain
is ``ANCHOR#<region>#<writer>``, so writers never contend for an item. A
chain's first anchor also lists its writer under ``ANCHOR-WRITERS#<region>``
(before the anchor, so a listed writer may have none yet, never the reverse):
``writers`` finds every anchored chain of a region without a scan.
"""

from __future__ import annotations

from broker.aws.dynamodb.table import Table, serialize
from broker.aws.errors import error_code
from broker.errors import ConflictError, UnavailableError
from broker.models import Anchor
from broker.state import MAIN_WRITER
from broker.store.anchors import ANCHOR_FIELDS, anchor_from_row
from broker.typing import Region, WriterId


def _pk(region: Region, writer: WriterId) -> str:
    return f"ANCHOR#{region}" if writer == MAIN_WRITER else f"ANCHOR#{region}#{writer}"


def add(table: Table, anchor: Anchor) -> None:
    """Put ``anchor`` unless its chain has its number already (``ConflictError``)."""
    item = {name: getattr(anchor, name) for name in ANCHOR_FIELDS}
    item.update(pk=_pk(anchor.region, anchor.writer), sk=f"{anchor.number:020d}")
    if anchor.number == 1:
        listed = {"pk": _writers_pk(anchor.region), "sk": anchor.writer}
        table.call("put_item", Item=serialize(listed))
    try:
        table.call("put_item", Item=serialize(item), ConditionExpression="attribute_not_exists(pk)")
    except UnavailableError as error:
        cause = error.__cause__
        if cause is not None and error_code(cause) == "ConditionalCheckFailedException":
            raise ConflictError("anchor_taken", "that anchor number exists") from None
        raise


def latest(table: Table, region: Region, writer: WriterId) -> Anchor | None:
    """The item of the chain (``region``, ``writer``) with the highest number (consistent)."""
    items = table.query(None, "#pk = :pk", {":pk": _pk(region, writer)}, forward=False, page=1)
    item = next(items, None)
    return None if item is None else anchor_from_row(item)


def writers(table: Table, region: Region) -> list[WriterId]:
    """The writers with anchors in ``region`` (``main``'s from before the list, too), sorted."""
    found = {WriterId(str(item["sk"])) for item in table.query(
        None, "#pk = :pk", {":pk": _writers_pk(region)}
    )}  # fmt: skip
    if MAIN_WRITER not in found and latest(table, region, MAIN_WRITER) is not None:
        found.add(MAIN_WRITER)
    return sorted(found)


def _writers_pk(region: Region) -> str:
    return f"ANCHOR-WRITERS#{region}"
