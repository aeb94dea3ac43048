"""Finished orders expire from bmsync (issue 18.10); an expired order read again is not imported twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bmsync.store.dynamo import table
from bmsync.store.orders_repo import OrdersRepository
from bmsync.store.stock_repo import StockRepository
from bmsync.store.tables import ORDERS
from tests.e2e.orders_sandbox import CONNECTION, OrdersSystem, orders_system
from tests.e2e.test_orders_import_e2e import _a_listed_sku


@pytest.fixture
def system(tmp_path: Path) -> Iterator[OrdersSystem]:
    with orders_system(tmp_path) as running:
        running.configure(finished_order_retention_days=7)
        yield running


def _expire(order_id: int) -> None:
    """What DynamoDB's TTL does once ``expires_at`` has passed."""
    table(ORDERS).delete_item(Key={"connection_id": CONNECTION, "order_id": str(order_id)})


def test_a_finished_order_expires_and_is_not_imported_again_when_back_market_changes_it(
    system: OrdersSystem,
) -> None:
    system.import_orders()
    system.watch()
    sku = _a_listed_sku(system)
    order_id = system.backmarket.create_buyer_order(sku)["order_id"]
    system.import_orders()
    open_record = system.record(order_id)
    assert open_record.expires_at is None  # an open order is kept

    seller = system.seller()
    seller.accept_orderline(order_id, sku)
    seller.ship_order(order_id, tracking_number="1Z999AA10123456784", shipper="UPS")
    shipped_at = system.clock.now()
    system.import_orders()
    finished = system.record(order_id)
    assert finished.bm_status == "shipped" and finished.export_state == "none"
    assert finished.expires_at is not None
    expected = (shipped_at + timedelta(days=7)).timestamp()
    assert expected <= finished.expires_at <= expected + 300
    stock = StockRepository(CONNECTION)
    calculated = sum(item.calculated for item in stock.by_sku(sku))

    # DynamoDB's TTL deletes the item once its expiry has passed.
    system.clock.advance(timedelta(days=7, minutes=10).total_seconds())
    _expire(order_id)
    # Back Market changes the order again: the buyer is refunded after it shipped.
    seller.refund_orderline(order_id, sku, after_shipping=True)
    run = system.import_orders()

    assert run.counts.get("recovered") == 1 and "imported" not in run.counts
    wholecell_orders = [
        order
        for order in system.wholecell.orders(channel="Backmarket")
        if order["external_id"] == str(order_id)
    ]
    assert len(wholecell_orders) == 1, "the expired order was created in WholeCell a second time"
    assert wholecell_orders[0]["id"] == open_record.wholecell_order_id
    assert wholecell_orders[0]["status"] == "Refunded"  # Back Market's change still reaches WholeCell
    assert sum(item.calculated for item in stock.by_sku(sku)) == calculated  # not reserved twice
    again = system.record(order_id)
    assert again.bm_status == "refunded" and again.expires_at is not None

    # The daily catch-up reads it once more: still one WholeCell order, nothing written.
    run = system.import_orders("catch_up")
    assert "imported" not in run.counts
    assert OrdersRepository().get(CONNECTION, order_id) == again
