"""DynamoDB: the table definitions (the single source for CDK, the sandbox and the tests) and the
repositories. Only this package touches DynamoDB."""

from bmsync.store.tables import (
    ALL_TABLES,
    IDEMPOTENCY,
    LISTING_LINKS,
    LISTINGS,
    ORDERS,
    SETTINGS,
    STOCK,
    SYNC_STATE,
    TableDef,
)

__all__ = [
    "ALL_TABLES",
    "IDEMPOTENCY",
    "LISTINGS",
    "LISTING_LINKS",
    "ORDERS",
    "SETTINGS",
    "STOCK",
    "SYNC_STATE",
    "TableDef",
]
