"""What each function may do in DynamoDB, per table: the one place its data permissions are written.

Read from the code (``bmsync.store``'s boto3 calls in the repository methods each function reaches,
and Powertools' idempotency layer on ``idempotency``); ``tests/infra/test_infra_access.py`` reads the
code again and fails when a function needs an action it is not given here, or is given one no code
of it uses. Query is granted on the table's indexes too; nothing here manages tables or streams.
"""

from __future__ import annotations

from bmsync.catalog import FUNCTIONS

_REPOSITORY_READS = ("GetItem", "Query")
#: Powertools' DynamoDBPersistenceLayer: read, claim, complete and (on failure) delete a record.
_IDEMPOTENCY = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
#: Cursors, documents, run records and alerts; locks are released with DeleteItem.
# UpdateItem: each run adds itself into its minute of the status aggregates (bmsync.store.run_aggregates).
_SYNC_STATE = ("GetItem", "PutItem", "DeleteItem", "Query", "UpdateItem")
#: Every function reads its connections' settings (``list`` scans the small settings table).
_SETTINGS_READ = ("GetItem", "Scan")

TABLE_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "order_import": {
        "settings": _SETTINGS_READ,
        "orders": ("GetItem", "BatchGetItem", "Query", "PutItem"),
        "stock": ("GetItem", "Query", "UpdateItem"),  # reserve_for_order
        "listings": ("GetItem", "Query", "PutItem", "UpdateItem"),
        "listing_links": ("Query",),
        "sync_state": _SYNC_STATE,
    },
    "listing_import": {
        "settings": _SETTINGS_READ,
        "listings": ("GetItem", "Query", "PutItem", "UpdateItem"),
        "sync_state": _SYNC_STATE,
    },
    "wholecell_watch": {
        "settings": _SETTINGS_READ,
        "stock": ("GetItem", "Query", "PutItem"),
        "orders": ("GetItem", "BatchGetItem", "Query", "PutItem"),
        "listings": ("GetItem", "Query", "PutItem", "UpdateItem"),
        "sync_state": _SYNC_STATE,
    },
    "quantity_sync": {
        "settings": _SETTINGS_READ,
        "listings": ("GetItem", "Query", "UpdateItem"),
        "listing_links": ("Query",),
        "stock": _REPOSITORY_READS,
        "sync_state": _SYNC_STATE,
        "idempotency": _IDEMPOTENCY,
    },
    "shipment_export": {
        "settings": _SETTINGS_READ,
        "orders": ("GetItem", "Query", "PutItem"),
        "sync_state": _SYNC_STATE,
    },
    # DeleteItem everywhere: deleting a connection removes its items one by one (ConnectionData).
    "admin": {
        "settings": ("GetItem", "Scan", "UpdateItem", "DeleteItem"),
        "listings": ("GetItem", "Query", "UpdateItem", "DeleteItem"),
        "listing_links": ("Query", "PutItem", "DeleteItem"),
        "stock": ("GetItem", "Query", "DeleteItem"),
        "orders": ("GetItem", "BatchGetItem", "Query", "PutItem", "DeleteItem"),  # confirm-absent
        # Plus the sign-in counters' atomic ADD and API tokens' last use (bmsync.store.admin_auth).
        "sync_state": _SYNC_STATE,
    },
}


def table_actions(function: str) -> dict[str, tuple[str, ...]]:
    """The IAM actions (``dynamodb:...``) of ``function`` per table it uses."""
    return {
        table: tuple(f"dynamodb:{action}" for action in actions)
        for table, actions in TABLE_ACTIONS[function].items()
    }


def check_against_the_catalogue() -> None:
    """Every catalogue function has its entry, naming exactly the tables the catalogue gives it."""
    for spec in FUNCTIONS:
        declared = TABLE_ACTIONS.get(spec.name)
        if declared is None or set(declared) != set(spec.tables):
            raise ValueError(
                f"infra/access.py: {spec.name} uses tables {sorted(spec.tables)} in bmsync.catalog but has "
                f"DynamoDB actions for {sorted(declared or {})}: name each table with the actions it needs"
            )
    unknown = set(TABLE_ACTIONS) - {spec.name for spec in FUNCTIONS}
    if unknown:
        raise ValueError(f"infra/access.py: no such functions in bmsync.catalog: {sorted(unknown)}")
