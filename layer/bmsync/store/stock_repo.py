"""The WholeCell stock mirror: one ``stock`` item per product variation, and wholecell_watch's memory.

A ``stock`` item carries what Back Market listings are computed from (available, outstanding,
calculated, as of when). Its stream drives quantity_sync, so it is written only when the calculated
quantity (or the variation's SKU) changes.

The *memory* behind it (which units count as available, which open sales orders still want how many
units) lets wholecell_watch apply an incremental change without re-reading everything. It lives in the
``sync_state`` table (``mirror#<variation_id>``): it changes far more often than the calculated
quantity, and writing it to ``stock`` would wake quantity_sync for nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from bmsync.store.dynamo import from_dynamo, paginate, table, to_dynamo
from bmsync.store.tables import STOCK, SYNC_STATE

MIRROR_PREFIX = "mirror#"


def sku_key(sku: str | None) -> str | None:
    """Back Market SKUs are case-insensitive: indexes hold the trimmed lower-cased SKU."""
    cleaned = (sku or "").strip().lower()
    return cleaned or None


class StockItem(BaseModel):
    connection_id: str
    variation_id: str
    sku: str | None = None
    available: int = 0
    outstanding: int = 0
    calculated: int = 0
    as_of: str
    last_writer: str = "wholecell_watch"


class MirrorEntry(BaseModel):
    """What wholecell_watch remembers of one variation: the units and order demands behind its counts."""

    variation_id: str
    sku: str | None = None
    #: Ids of the variation's units that count as available (allowed status and warehouse, uncommitted).
    units: set[int] = Field(default_factory=set)
    #: Open sales order id -> quantity of this variation it still wants (items not yet committed).
    demands: dict[str, int] = Field(default_factory=dict)

    @property
    def available(self) -> int:
        return len(self.units)

    @property
    def outstanding(self) -> int:
        return sum(self.demands.values())

    @property
    def calculated(self) -> int:
        return self.available - self.outstanding


class StockRepository:
    def __init__(
        self, connection_id: str, stock_table: Any | None = None, state_table: Any | None = None
    ) -> None:
        self.connection_id = connection_id
        self._stock = stock_table if stock_table is not None else table(STOCK)
        self._state = state_table if state_table is not None else table(SYNC_STATE)

    # -- stock items
    def get(self, variation_id: str) -> StockItem | None:
        item = self._stock.get_item(
            Key={"connection_id": self.connection_id, "variation_id": variation_id}, ConsistentRead=True
        ).get("Item")
        return StockItem.model_validate(from_dynamo(item)) if item else None

    def get_many(self, variation_ids: Iterable[str]) -> dict[str, StockItem]:
        found: dict[str, StockItem] = {}
        for variation_id in sorted(set(variation_ids)):
            item = self.get(variation_id)
            if item is not None:
                found[variation_id] = item
        return found

    def all(self) -> dict[str, StockItem]:
        items = paginate(
            self._stock.query,
            KeyConditionExpression=Key("connection_id").eq(self.connection_id),
            ConsistentRead=True,
        )
        return {str(item["variation_id"]): StockItem.model_validate(item) for item in items}

    def by_sku(self, sku: str) -> list[StockItem]:
        wanted = sku_key(sku)
        if wanted is None:
            return []
        items = paginate(
            self._stock.query,
            IndexName="by_sku",
            KeyConditionExpression=Key("connection_id").eq(self.connection_id) & Key("sku_key").eq(wanted),
        )
        return sorted((StockItem.model_validate(item) for item in items), key=lambda item: item.variation_id)

    def put(self, item: StockItem) -> None:
        document = item.model_dump()
        document["sku_key"] = sku_key(item.sku)  # dropped when None: an item without SKU is not indexed
        self._stock.put_item(Item=to_dynamo(document))

    def reserve_for_order(self, variation_id: str, quantity: int, *, as_of: str) -> bool:
        """Count ``quantity`` more units of a variation as ordered (order_import, at import).

        Lowers ``calculated`` (and raises ``outstanding``) at once, so quantity_sync protects the other
        listings sharing the stock before WholeCell's own numbers reach wholecell_watch, which then
        finds the same value and writes nothing. ``False`` when the variation is not mirrored (yet).
        """
        try:
            self._stock.update_item(
                Key={"connection_id": self.connection_id, "variation_id": variation_id},
                UpdateExpression=(
                    "SET calculated = calculated - :q, outstanding = outstanding + :q, "
                    "as_of = :as_of, last_writer = :writer"
                ),
                ConditionExpression="attribute_exists(variation_id)",
                ExpressionAttributeValues={":q": quantity, ":as_of": as_of, ":writer": "order_import"},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- wholecell_watch's memory
    def load_mirror(self) -> dict[str, MirrorEntry]:
        items = paginate(
            self._state.query,
            KeyConditionExpression=Key("connection_id").eq(self.connection_id)
            & Key("state_key").begins_with(MIRROR_PREFIX),
            ConsistentRead=True,
        )
        entries = (MirrorEntry.model_validate_json(str(item["document"])) for item in items)
        return {entry.variation_id: entry for entry in entries}

    def save_mirror_entry(self, entry: MirrorEntry) -> None:
        document = {
            "variation_id": entry.variation_id,
            "sku": entry.sku,
            "units": sorted(entry.units),
            "demands": dict(sorted(entry.demands.items())),
        }
        self._state.put_item(
            Item={
                "connection_id": self.connection_id,
                "state_key": f"{MIRROR_PREFIX}{entry.variation_id}",
                "document": json.dumps(document, sort_keys=True),
            }
        )
