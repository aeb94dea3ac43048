"""The one place that opens DynamoDB: a resource per process, tables by their shared definition.

boto3 honours ``AWS_ENDPOINT_URL`` (the sandbox points it at moto's server), so nothing here knows
whether it talks to AWS or to the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

import boto3

from bmsync.store.tables import TableDef


@lru_cache(maxsize=1)
def _resource() -> Any:
    return boto3.resource("dynamodb")


def table(definition: TableDef) -> Any:
    return _resource().Table(definition.physical_name)


#: BatchGetItem takes at most 100 keys; what DynamoDB leaves unprocessed is asked for again.
BATCH_GET_KEYS = 100
BATCH_GET_ROUNDS = 5


class UnprocessedKeys(RuntimeError):
    """DynamoDB kept leaving keys of a batch read unprocessed (throttled): the run fails, and retries."""


def batch_get(dynamo_table: Any, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of ``keys`` that exist, read consistently, in requests of 100 keys."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {
            dynamo_table.name: {"Keys": keys[start : start + BATCH_GET_KEYS], "ConsistentRead": True}
        }
        for _ in range(BATCH_GET_ROUNDS):
            response = _resource().batch_get_item(RequestItems=request)
            found.extend(response.get("Responses", {}).get(dynamo_table.name, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        if request:
            unprocessed = len(request[dynamo_table.name]["Keys"])
            raise UnprocessedKeys(f"DynamoDB left {unprocessed} keys of {dynamo_table.name} unprocessed")
    return found


def paginate(call: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a ``query`` or ``scan`` (``call``), page after page across ``LastEvaluatedKey``,
    as plain Python."""
    while True:
        page = call(**kwargs)
        yield from (from_dynamo(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def reset_connections() -> None:
    """Forget the cached resource (after the sandbox or a test changes the endpoint)."""
    _resource.cache_clear()


def to_dynamo(value: Any) -> Any:
    """Plain Python -> what DynamoDB's resource layer accepts (floats become Decimals)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {key: to_dynamo(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [to_dynamo(item) for item in value]
    return value


def from_dynamo(value: Any) -> Any:
    """DynamoDB values -> plain Python (integral Decimals become ints)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: from_dynamo(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [from_dynamo(item) for item in value]
    return value
