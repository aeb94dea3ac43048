"""A faster in-process DynamoDB for long simulations.

moto 5.2 serializes every response by walking botocore's shape model attribute by attribute: in a
simulation that is most of the CPU (measured: 43 of 94 profiled seconds; a Query of 100 stock items
takes ~40 ms). DynamoDB speaks plain JSON, and moto's results for the item operations are already in
its wire format (``{"S": ...}``, ``{"N": "3"}``), so for those the simulator writes the JSON itself;
every other operation, and every error, keeps moto's serializer. ``tests/chaos/test_fast_store.py``
checks that both give the same answers to the store's own repositories.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Operations whose results are items, keys and capacities only (no timestamps, no blobs we write).
ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
CONTENT_TYPE = "application/x-amz-json-1.0"


def item_response(result: Any) -> tuple[int, dict[str, str], str]:
    """Status, headers and body of an item operation's result, as DynamoDB sends them."""
    return 200, {"Content-Type": CONTENT_TYPE}, json.dumps(result, separators=(",", ":"))


@contextmanager
def fast_item_responses() -> Iterator[None]:
    """While active, moto answers the item operations with ``json.dumps`` of its result."""
    from moto.dynamodb.responses import DynamoResult

    moto_serializer = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in ITEM_OPERATIONS or isinstance(self.result, Exception):
            return moto_serializer(self, context)
        return item_response(self.result)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoResult.execute_result = moto_serializer  # type: ignore[method-assign]
