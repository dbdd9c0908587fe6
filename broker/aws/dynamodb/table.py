"""Low-level access to the DynamoDB store's table: reads, queries, transactions.

Every call is synchronous (the store runs them on its thread pool). botocore
failures become ``UnavailableError``; a cancelled transaction becomes
``Cancelled`` for the caller to explain or retry. Every read here is
strongly consistent, because the transactions rely on what it returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from broker.aws.dynamodb.codec import Item, Key
from broker.errors import UnavailableError

MAX_TX_ITEMS = 100
_SER = TypeSerializer()
_DE = TypeDeserializer()


class Cancelled(Exception):
    """A transaction was cancelled; ``reasons`` holds one code per item."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = list(reasons)


def serialize(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values -> DynamoDB attribute values."""
    return {k: _SER.serialize(v) for k, v in values.items()}


def deserialize(item: Mapping[str, Any]) -> Item:
    """DynamoDB attribute values -> Python values."""
    return {k: _DE.deserialize(v) for k, v in item.items()}


def key_of(key: Key) -> dict[str, Any]:
    """The serialized primary key."""
    return {"pk": {"S": key[0]}, "sk": {"S": key[1]}}


def _unavailable(error: Exception) -> UnavailableError:
    code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
    detail = code or type(error).__name__
    return UnavailableError("store_unavailable", f"the store is unreachable ({detail})")


class Table:
    """One DynamoDB table through a low-level boto3 client."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def call(self, operation: str, **kwargs: Any) -> Any:
        """``client.<operation>(TableName=..., **kwargs)``; AWS failures -> ``UnavailableError``."""
        try:
            return getattr(self.client, operation)(TableName=self.name, **kwargs)
        except (BotoCoreError, ClientError) as error:
            raise _unavailable(error) from error

    def get(self, key: Key) -> Item | None:
        """The item, read consistently, or None."""
        answer = self.call("get_item", Key=key_of(key), ConsistentRead=True)
        found = answer.get("Item")
        return None if found is None else deserialize(found)

    def get_many(self, keys: Sequence[Key]) -> dict[Key, Item]:
        """Consistent reads of many items (batched), by key."""
        found: dict[Key, Item] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            pending: Any = {
                self.name: {
                    "Keys": [key_of(k) for k in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while pending:
                answer = self._batch_get(pending)
                for raw in answer.get("Responses", {}).get(self.name, []):
                    item = deserialize(raw)
                    found[(item["pk"], item["sk"])] = item
                pending = answer.get("UnprocessedKeys") or None
        return found

    def _batch_get(self, request: Any) -> Any:
        try:
            return self.client.batch_get_item(RequestItems=request)
        except (BotoCoreError, ClientError) as error:
            raise _unavailable(error) from error

    def query(
        self,
        index: str | None,
        condition: str,
        values: Mapping[str, Any],
        *,
        forward: bool = True,
        page: int = 100,
    ) -> Iterator[Item]:
        """Items matching ``condition``, lazily across pages (only the main table is consistent)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {f"#{n}": n for n in re.findall(r"#(\w+)", condition)},
            "ExpressionAttributeValues": serialize(values),
            "ScanIndexForward": forward,
            "Limit": page,
        }
        if index is None:
            kwargs["ConsistentRead"] = True
        else:
            kwargs["IndexName"] = index
        while True:
            answer = self.call("query", **kwargs)
            yield from (deserialize(raw) for raw in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def transact(self, items: Sequence[dict[str, Any]]) -> None:
        """Commit ``items`` all or nothing; ``Cancelled`` when a condition or a rival stops it."""
        try:
            self.client.transact_write_items(TransactItems=list(items))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise _unavailable(error) from error
            reasons = error.response.get("CancellationReasons") or _parse_reasons(error)
            raise Cancelled([str(r.get("Code", "None")) for r in reasons]) from error
        except BotoCoreError as error:
            if isinstance(error, ParamValidationError):
                raise  # a bug in the request, not an outage
            raise _unavailable(error) from error


def _parse_reasons(error: ClientError) -> list[dict[str, str]]:
    """Reasons from the message ``... [ConditionalCheckFailed, None]`` when not structured."""
    message = str(error.response.get("Error", {}).get("Message", ""))
    inside = message[message.find("[") + 1 : message.rfind("]")] if "[" in message else ""
    return [{"Code": part.strip()} for part in inside.split(",") if part.strip()]
