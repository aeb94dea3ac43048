"""Every item of one connection, in every table keyed by the connection id: deleting a connection.

The idempotency table is keyed by Powertools' own hash, not by connection: its records hold no
personal data and expire by themselves within hours (``IDEMPOTENCY``'s TTL).
"""

from __future__ import annotations

from typing import Any

from bmsync.store.dynamo import table
from bmsync.store.tables import LISTING_LINKS, LISTINGS, ORDERS, STOCK, SYNC_STATE, TableDef


class ConnectionData:
    def __init__(self) -> None:
        self._listings = table(LISTINGS)
        self._listing_links = table(LISTING_LINKS)
        self._stock = table(STOCK)
        self._orders = table(ORDERS)
        self._sync_state = table(SYNC_STATE)

    def holds_any(self, connection_id: str) -> bool:
        """Whether any table still holds an item of the connection."""
        # Each table named as an attribute: tests/infra/dynamo_usage.py attributes the calls by it.
        return (
            _holds_items(self._listings, connection_id)
            or _holds_items(self._listing_links, connection_id)
            or _holds_items(self._stock, connection_id)
            or _holds_items(self._orders, connection_id)
            or _holds_items(self._sync_state, connection_id)
        )

    def delete(self, connection_id: str) -> dict[str, int]:
        """Delete the connection's items (not its settings); how many each table held."""
        return {
            LISTINGS.logical_name: _delete_partition(self._listings, LISTINGS, connection_id),
            LISTING_LINKS.logical_name: _delete_partition(self._listing_links, LISTING_LINKS, connection_id),
            STOCK.logical_name: _delete_partition(self._stock, STOCK, connection_id),
            ORDERS.logical_name: _delete_partition(self._orders, ORDERS, connection_id),
            # Last: a run's lock and record go once the data it works on is gone.
            SYNC_STATE.logical_name: _delete_partition(self._sync_state, SYNC_STATE, connection_id),
        }


def _holds_items(dynamo_table: Any, connection_id: str) -> bool:
    page = dynamo_table.query(
        KeyConditionExpression="connection_id = :p",
        ExpressionAttributeValues={":p": connection_id},
        Limit=1,
        Select="COUNT",
    )
    return bool(page.get("Count"))


def _delete_partition(dynamo_table: Any, definition: TableDef, connection_id: str) -> int:
    """Delete every item under the partition key ``connection_id``, one DeleteItem each."""
    assert definition.sort_key is not None, f"{definition.logical_name} has one item per connection"
    partition, sort = definition.partition_key.name, definition.sort_key.name
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "#p = :p",
        "ProjectionExpression": "#p, #s",
        "ExpressionAttributeNames": {"#p": partition, "#s": sort},
        "ExpressionAttributeValues": {":p": connection_id},
        "ConsistentRead": True,
    }
    deleted = 0
    while True:
        page = dynamo_table.query(**kwargs)
        for item in page.get("Items", []):
            dynamo_table.delete_item(Key={partition: item[partition], sort: item[sort]})
            deleted += 1
        if "LastEvaluatedKey" not in page:
            return deleted
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
