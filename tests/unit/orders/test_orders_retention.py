"""A finished order's item expires (issue 18.10): when it counts as finished, and from when."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bmsync.settings import Settings
from bmsync.store.dynamo import table
from bmsync.store.orders_repo import OrderRecord, OrdersRepository
from bmsync.store.tables import ORDERS
from bmsync.sync import order_import, shipment_export, wholecell_watch

RETENTION = timedelta(days=30)


def _set(**fields: object):
    def change(record: OrderRecord) -> bool:
        for name, value in fields.items():
            setattr(record, name, value)
        return True

    return change


@pytest.mark.parametrize(
    ("fields", "finished"),
    [
        ({"bm_status": "cancelled", "import_state": "imported"}, True),
        ({"bm_status": "refunded", "import_state": "not_imported"}, True),
        ({"bm_status": "shipped", "export_state": "sent", "import_state": "imported"}, True),
        ({"bm_status": "shipped", "export_state": "none", "import_state": "imported"}, True),
        ({"bm_status": "shipped", "export_state": "rejected", "import_state": "imported"}, False),
        ({"bm_status": "shipped", "export_state": "pending", "import_state": "imported"}, False),
        ({"bm_status": "accepted", "import_state": "imported"}, False),
        ({"bm_status": "cancelled", "import_state": "creating"}, False),
    ],
)
def test_only_a_finished_order_gets_an_expiry(aws: None, clock, fields: dict, finished: bool) -> None:
    repo = OrdersRepository(finished_retention=RETENTION)
    stored = repo.update("uk", 1, _set(**fields), writer="order_import", now=clock.now(), create=True)
    expected = int((clock.now() + RETENTION).timestamp()) if finished else None
    assert stored.expires_at == expected
    item = table(ORDERS).get_item(Key={"connection_id": "uk", "order_id": "1"})["Item"]
    assert item.get("expires_at") == expected  # the attribute DynamoDB's TTL reads


def test_the_expiry_counts_from_when_it_finished_and_goes_if_it_opens_again(aws: None, clock) -> None:
    repo = OrdersRepository(finished_retention=RETENTION)
    finished_at = clock.now()
    repo.update(
        "uk",
        1,
        _set(bm_status="shipped", export_state="sent"),
        writer="order_import",
        now=finished_at,
        create=True,
    )
    clock.advance(3600)
    later = repo.update("uk", 1, _set(status_note="set by hand"), writer="wholecell_watch", now=clock.now())
    assert later.expires_at == int((finished_at + RETENTION).timestamp())

    # A new shipment in WholeCell: there is something to send again, so the order is kept.
    reopened = repo.update("uk", 1, _set(export_state="pending"), writer="wholecell_watch", now=clock.now())
    assert reopened.expires_at is None


def test_a_repository_without_a_retention_never_sets_one(aws: None, clock) -> None:
    stored = OrdersRepository().update(
        "uk", 1, _set(bm_status="cancelled"), writer="order_import", now=clock.now(), create=True
    )
    assert stored.expires_at is None


@pytest.mark.parametrize("flow", [order_import, shipment_export, wholecell_watch])
def test_every_flow_writing_orders_passes_the_connection_retention(aws: None, clock, flow) -> None:
    settings = Settings(connection_id="uk", finished_order_retention_days=12)
    orders = flow.wire(settings, clock).orders
    stored = orders.update(
        "uk", 1, _set(bm_status="cancelled"), writer=flow.FLOW, now=clock.now(), create=True
    )
    assert stored.expires_at == int((clock.now() + timedelta(days=12)).timestamp())
