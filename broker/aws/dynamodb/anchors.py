"""The audit anchors in DynamoDB: items under ``ANCHOR#<region>`` (see ``broker.store.anchors``)."""

from __future__ import annotations

from broker.aws.dynamodb.table import Table, serialize
from broker.aws.errors import error_code
from broker.errors import ConflictError, UnavailableError
from broker.models import Anchor
from broker.store.anchors import ANCHOR_FIELDS, anchor_from_row
from broker.typing import Region


def _pk(region: Region) -> str:
    return f"ANCHOR#{region}"


def add(table: Table, anchor: Anchor) -> None:
    """Put ``anchor`` unless its number is taken (``ConflictError``)."""
    item = {name: getattr(anchor, name) for name in ANCHOR_FIELDS}
    item.update(pk=_pk(anchor.region), sk=f"{anchor.number:020d}")
    try:
        table.call("put_item", Item=serialize(item), ConditionExpression="attribute_not_exists(pk)")
    except UnavailableError as error:
        cause = error.__cause__
        if cause is not None and error_code(cause) == "ConditionalCheckFailedException":
            raise ConflictError("anchor_taken", "that anchor number exists") from None
        raise


def latest(table: Table, region: Region) -> Anchor | None:
    """The item of ``region`` with the highest number (a consistent query)."""
    items = table.query(None, "#pk = :pk", {":pk": _pk(region)}, forward=False, page=1)
    item = next(items, None)
    return None if item is None else anchor_from_row(item)
