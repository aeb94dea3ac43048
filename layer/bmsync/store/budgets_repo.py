"""Shared rate budgets in the ``sync_state`` table: one small item per connection and budget.

The item (``state_key`` ``budget#<name>``) holds the units taken per recent bucket as a JSON map and a
``version``; a write succeeds only if the version is still the one read (a conditional ``PutItem``),
so two containers never both count on the same free units. ``expires_at`` lets DynamoDB's TTL drop
the item of a budget nobody used for an hour.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from bmsync.shared_budget import BudgetCounts
from bmsync.store.dynamo import table
from bmsync.store.tables import SYNC_STATE


class BudgetsRepository:
    """The :class:`bmsync.shared_budget.BudgetStore` of one connection."""

    def __init__(self, connection_id: str, dynamo_table: Any | None = None) -> None:
        self.connection_id = connection_id
        self._table = dynamo_table if dynamo_table is not None else table(SYNC_STATE)

    def _key(self, name: str) -> dict[str, str]:
        return {"connection_id": self.connection_id, "state_key": f"budget#{name}"}

    def load_counts(self, name: str) -> BudgetCounts | None:
        item = self._table.get_item(Key=self._key(name), ConsistentRead=True).get("Item")
        if not item:
            return None
        buckets = {int(index): int(used) for index, used in json.loads(str(item["buckets"])).items()}
        return BudgetCounts(version=int(item["version"]), buckets=buckets)

    def save_counts(self, name: str, counts: BudgetCounts, *, expected_version: int, expires_at: int) -> bool:
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(state_key)"}
            if expected_version == 0
            else {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": expected_version},
            }
        )
        try:
            self._table.put_item(
                Item={
                    **self._key(name),
                    "version": counts.version,
                    "buckets": json.dumps({str(index): used for index, used in counts.buckets.items()}),
                    "expires_at": expires_at,
                },
                **condition,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
