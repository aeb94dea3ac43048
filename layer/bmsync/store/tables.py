"""The single definition of every DynamoDB table: CDK, the sandbox and the tests all read these.

Every key starts with the connection id, so one deployment can serve several connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bmsync.environment import table_name, table_variable

KeyType = Literal["S", "N"]
StreamView = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]


@dataclass(frozen=True)
class Key:
    name: str
    type: KeyType = "S"


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: Key
    sort_key: Key | None = None
    projection: Literal["ALL", "KEYS_ONLY"] = "ALL"


@dataclass(frozen=True)
class TableDef:
    logical_name: str
    partition_key: Key
    sort_key: Key | None = None
    indexes: tuple[Index, ...] = ()
    stream: StreamView | None = None
    ttl_attribute: str | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def env_var(self) -> str:
        return table_variable(self.logical_name)

    @property
    def physical_name(self) -> str:
        """The table's name, from ``BMSYNC_TABLE_<NAME>`` (CDK sets it; so do the sandbox and tests)."""
        return table_name(self.logical_name)

    def attribute_definitions(self) -> list[dict[str, str]]:
        keys: dict[str, str] = {}
        for key in (self.partition_key, self.sort_key):
            if key:
                keys[key.name] = key.type
        for index in self.indexes:
            for key in (index.partition_key, index.sort_key):
                if key:
                    keys[key.name] = key.type
        return [{"AttributeName": name, "AttributeType": kind} for name, kind in keys.items()]

    def create_table_kwargs(self) -> dict[str, Any]:
        """Arguments of ``create_table`` for boto3 (sandbox and tests)."""
        kwargs: dict[str, Any] = {
            "TableName": self.physical_name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": _key_schema(self.partition_key, self.sort_key),
            "AttributeDefinitions": self.attribute_definitions(),
        }
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index.name,
                    "KeySchema": _key_schema(index.partition_key, index.sort_key),
                    "Projection": {"ProjectionType": index.projection},
                }
                for index in self.indexes
            ]
        if self.stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": self.stream}
        return kwargs


def _key_schema(partition: Key, sort: Key | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    if sort:
        schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return schema


CONNECTION = Key("connection_id")

SETTINGS = TableDef(
    "settings",
    CONNECTION,
    description="One versioned item per connection: every option (optimistic locking on `version`).",
)

LISTINGS = TableDef(
    "listings",
    CONNECTION,
    Key("listing_id"),  # Back Market's listing UUID (`id`)
    indexes=(
        # Reverse lookup: the listings of a SKU (lower-cased: Back Market SKUs are case-insensitive).
        Index("by_sku", CONNECTION, Key("sku_key")),
    ),
    stream="NEW_AND_OLD_IMAGES",
    description="One item per Back Market listing, its mapping and its quantity-sync state.",
)

LISTING_LINKS = TableDef(
    "listing_links",
    CONNECTION,
    Key("link_id"),  # "<variation_id>#<listing_id>"
    indexes=(Index("by_listing", CONNECTION, Key("listing_id")),),
    description="Chosen variations of listings (Choose specific product variations): variation -> listings.",
)

STOCK = TableDef(
    "stock",
    CONNECTION,
    Key("variation_id"),
    indexes=(Index("by_sku", CONNECTION, Key("sku_key")),),
    stream="NEW_AND_OLD_IMAGES",
    description="Mirror of WholeCell per product variation: available, outstanding, calculated.",
)

ORDERS = TableDef(
    "orders",
    CONNECTION,
    Key("order_id"),  # Back Market order id, as a string
    indexes=(
        Index("by_export_state", CONNECTION, Key("export_state")),
        # Sparse: only orders recorded as not imported carry `not_imported_since`. order_import looks
        # them up again after a settings change (a newly mapped status) without scanning the table.
        Index("by_not_imported", CONNECTION, Key("not_imported_since"), projection="KEYS_ONLY"),
    ),
    stream="NEW_AND_OLD_IMAGES",
    # A finished order's item is deleted once this epoch second passes (docs/data.md).
    ttl_attribute="expires_at",
    description="One item per Back Market order: WholeCell order, states, shipment and its export.",
)

SYNC_STATE = TableDef(
    "sync_state",
    CONNECTION,
    Key("state_key"),  # "cursor#<flow>", "lock#<flow>", "run#<flow>", "alert#<id>"...
    ttl_attribute="expires_at",
    description="Cursors, locks with expiry, last run of each flow, alerts.",
)

IDEMPOTENCY = TableDef(
    "idempotency",
    Key("id"),
    ttl_attribute="expiration",
    description="Powertools idempotency records.",
)

ALL_TABLES: tuple[TableDef, ...] = (SETTINGS, LISTINGS, LISTING_LINKS, STOCK, ORDERS, SYNC_STATE, IDEMPOTENCY)


def by_logical_name(name: str) -> TableDef:
    for table in ALL_TABLES:
        if table.logical_name == name:
            return table
    raise KeyError(name)


def local_table_environment(prefix: str = "bmsync-") -> dict[str, str]:
    """``BMSYNC_TABLE_<NAME>`` of every table, named ``<prefix><name>``: the sandbox's and tests' tables."""
    return {table.env_var: f"{prefix}{table.logical_name}" for table in ALL_TABLES}
