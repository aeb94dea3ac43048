"""The simulation's in-process AWS (moto): faster answers, and a meter of what it costs.

moto 5.2 serializes every response by walking botocore's shape model attribute by attribute: in a
simulation that is most of the CPU (measured: 43 of 94 profiled seconds; a Query of 100 stock items
takes ~40 ms). DynamoDB speaks plain JSON, and moto's results for the item operations are already in
its wire format (``{"S": ...}``, ``{"N": "3"}``), so for those the simulator writes the JSON itself;
every other operation, and every error, keeps moto's serializer.
``tests/sandbox/simulator/test_fast_store.py`` checks that both give the same answers to the store's own
repositories.

moto's Query reads a whole table for an index query: it sorts every item of it (twice), comparing
attribute objects that convert their value at each comparison, then sizes each one (for the 1 MB
page limit; twice per kept item) before the sort-key condition drops it. One week simulated, an index
query on the orders table did that for thousands of items twice a minute, and the time per simulated
hour kept growing. :func:`faster_queries` sorts on values converted once per item, and keeps each
stored item's size until moto changes that item: same answers, in the same order.

In AWS, DynamoDB and Secrets Manager run on other machines; here moto runs in the handler's thread.
:class:`LocalAwsMeter` counts the CPU this thread spends inside moto (from the request botocore
prepared to the response it hands back), so a handler's own CPU (its code and the SDK's work of
signing, sending and parsing) can be told apart from the stand-in's.
"""

from __future__ import annotations

import calendar
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
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
SIZE_ATTRIBUTE = "_bmsync_cached_size"


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


def _epoch_seconds(value: Any) -> float:
    """A stream record's creation time as the wire has it (moto's rule: UTC, to the millisecond)."""
    if not isinstance(value, datetime):
        raise TypeError(f"not JSON: {value!r}")
    return calendar.timegm(value.timetuple()) + (value.microsecond // 1000) / 1000.0


@contextmanager
def fast_stream_records() -> Iterator[None]:
    """While active, moto answers DynamoDB Streams' GetRecords with ``json.dumps`` of its result: the
    records are already in their wire format but for their creation time. Each step the stream pump
    reads every stream, and after a catalogue of 2,000 listings and 20,000 units was written the
    shape-walking serializer took most of a simulated hour's CPU."""
    from moto.core.responses import ActionResult

    moto_serializer = ActionResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if (
            context.service_model.service_name != "dynamodbstreams"
            or context.operation_model.name != "GetRecords"
            or isinstance(self.result, Exception)
        ):
            return moto_serializer(self, context)
        body = json.dumps(self.result, separators=(",", ":"), default=_epoch_seconds)
        return 200, {"Content-Type": CONTENT_TYPE}, body

    ActionResult.execute_result = execute_result  # type: ignore[method-assign]
    try:
        yield
    finally:
        ActionResult.execute_result = moto_serializer  # type: ignore[method-assign]


@contextmanager
def faster_queries() -> Iterator[None]:
    """While active, moto's index queries sort on each item's key values converted once, and an
    item's size is computed once, and again after each in-place update (moto changes stored items in
    place only in UpdateItem: by expression, or by AttributeUpdates)."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    sorted_items = Table.sorted_items
    all_items = Table.all_items

    def all_items_sorted_once(table: Any) -> list[Any]:
        """moto's order (by hash key, then range key), on values converted once per item."""
        items = [
            item
            for hash_set in table.items.values()
            for item in (hash_set.values() if table.range_key_attr else (hash_set,))
        ]
        if table.range_key_attr:
            items.sort(key=lambda item: (item.hash_key.cast_value, item.range_key.cast_value))
        else:
            items.sort(key=lambda item: item.hash_key.cast_value)
        return items

    def sorted_once(table: Any, hash_key_attrs: Any, range_key_attrs: Any, items: list[Any]) -> list[Any]:
        names = table._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        items.sort(key=lambda item: tuple(item.attrs[name].cast_value for name in names))
        return items

    item_size = Item.size
    execute = UpdateExpressionExecutor.execute
    attribute_updates = Item.update_with_attribute_updates

    def cached_size(item: Any) -> int:
        size: int | None = item.__dict__.get(SIZE_ATTRIBUTE)
        if size is None:
            size = item.__dict__[SIZE_ATTRIBUTE] = item_size(item)
        return size

    def execute_forgetting_size(executor: Any, *args: Any, **kwargs: Any) -> None:
        executor.item.__dict__.pop(SIZE_ATTRIBUTE, None)
        try:
            execute(executor, *args, **kwargs)
        finally:
            executor.item.__dict__.pop(SIZE_ATTRIBUTE, None)

    def update_forgetting_size(item: Any, *args: Any, **kwargs: Any) -> None:
        item.__dict__.pop(SIZE_ATTRIBUTE, None)
        try:
            attribute_updates(item, *args, **kwargs)
        finally:
            item.__dict__.pop(SIZE_ATTRIBUTE, None)

    query = Table.query

    def query_candidates_only(table: Any, *args: Any, **kwargs: Any) -> Any:
        """moto's query, handed only the items its key condition can match instead of the whole
        table: the partition's items for a table query, those whose index keys equal the
        condition's (strings: compared as moto does, type and value) for an index query. moto
        sorts and filters them as before, so the answer is the same; at 2,000 listings a drift check
        queries an index 2,000 times, each over every item of the table."""
        hash_key = args[0] if args else kwargs.get("hash_key")
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        conditions = list(kwargs.get("hash_key_conditions") or [])
        # A range key's equality narrows the candidates too (the stock index: connection, then SKU).
        conditions += [
            (name, values[0])
            for name, comparison, values in kwargs.get("range_key_conditions") or []
            if comparison == "=" and len(values) == 1
        ]
        if index_name and conditions and all(value.type == "S" for _, value in conditions):
            wanted = [(name, value.value) for name, value in conditions]

            def candidates() -> list[Any]:
                return [
                    item
                    for item in _table_items(table)
                    if all(
                        (attribute := item.attrs.get(name)) is not None
                        and attribute.type == "S"
                        and attribute.value == value
                        for name, value in wanted
                    )
                ]
        elif not index_name and hash_key is not None and table.range_key_attr:

            def candidates() -> list[Any]:
                return list(table.items.get(hash_key, {}).values())
        else:
            return query(table, *args, **kwargs)
        table.__dict__["all_items"] = candidates
        try:
            return query(table, *args, **kwargs)
        finally:
            del table.__dict__["all_items"]

    Table.query = query_candidates_only  # type: ignore[method-assign,assignment]
    Table.sorted_items = sorted_once  # type: ignore[method-assign,assignment]
    Table.all_items = all_items_sorted_once  # type: ignore[method-assign,assignment]
    Item.size = cached_size  # type: ignore[method-assign,assignment]
    UpdateExpressionExecutor.execute = execute_forgetting_size  # type: ignore[method-assign,assignment]
    Item.update_with_attribute_updates = update_forgetting_size  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Table.query = query  # type: ignore[method-assign]
        Table.sorted_items = sorted_items  # type: ignore[method-assign]
        Table.all_items = all_items  # type: ignore[method-assign]
        Item.size = item_size  # type: ignore[method-assign]
        UpdateExpressionExecutor.execute = execute  # type: ignore[method-assign]
        Item.update_with_attribute_updates = attribute_updates  # type: ignore[method-assign]


#: DynamoDB's on-demand request units: a read unit per 4 KB read (strongly consistent), a write unit
#: per 1 KB written (a transaction's twice).
READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


def _table_items(table: Any) -> list[Any]:
    """Every item of a moto table, in no particular order."""
    if table.range_key_attr:
        return [item for partition in table.items.values() for item in partition.values()]
    return list(table.items.values())


class LocalAwsMeter:
    """CPU seconds this process's threads spent inside moto while :meth:`metering` was active, and
    what was asked of it: calls per ``service.Operation`` and DynamoDB's request units (from the
    bytes of each answer read and each request written: an upper bound, as the wire's JSON is larger
    than DynamoDB's item size), for the cost of a month (``bench.scale``)."""

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self.calls: Counter[str] = Counter()

    def _count(self, event_name: str, request: Any, response: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.calls[f"{service}.{operation}"] += 1
        if service != "dynamodb" or response is None:
            return
        if operation in READ_OPERATIONS:
            self.calls["dynamodb.read_units"] += max(1, math.ceil(len(response.content) / READ_UNIT_BYTES))
        elif operation in WRITE_OPERATIONS:
            units = max(1, math.ceil(len(request.body or b"") / WRITE_UNIT_BYTES))
            self.calls["dynamodb.write_units"] += units * (2 if operation == "TransactWriteItems" else 1)

    @contextmanager
    def metering(self) -> Iterator[LocalAwsMeter]:
        from moto.core.botocore_stubber import BotocoreStubber

        answer = BotocoreStubber.__call__

        def metered(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            response = None
            try:
                response = answer(stubber, event_name, request, **kwargs)
                return response
            finally:
                self.cpu_seconds += time.thread_time() - started
                self._count(event_name, request, response)

        BotocoreStubber.__call__ = metered  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            BotocoreStubber.__call__ = answer  # type: ignore[method-assign]
