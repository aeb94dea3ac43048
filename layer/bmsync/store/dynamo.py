"""The one place that opens DynamoDB: a resource per process, tables by their shared definition.

boto3 honours ``AWS_ENDPOINT_URL`` (the sandbox points it at moto's server), so nothing here knows
whether it talks to AWS or to the sandbox.
"""

from __future__ import annotations

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
