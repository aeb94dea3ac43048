"""A WholeCell whose API differs from the inferred contract: the flows do what they can and say what not.

Each unadvertised endpoint the flows read is removed in turn (the WholeCell emulator's
``absent_endpoints``): wholecell_watch still builds the stock mirror, listing_import still connects
listings and order_import still books an order on its variation, and the connection's alerts say in
plain words what is missing and what it costs. One unit WholeCell serves in a shape bmsync cannot read
is left out with an alert naming it and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.stock_repo import StockRepository
from tests.e2e.orders_sandbox import CONNECTION, OrdersSystem, orders_system
from tests.e2e.test_orders_import_e2e import _a_listed_sku


@pytest.fixture
def system(tmp_path: Path) -> Iterator[OrdersSystem]:
    with orders_system(tmp_path) as running:
        yield running


def _mirror_matches_wholecell(system: OrdersSystem, *, outstanding: bool = True) -> int:
    """Every stock item against the emulator's own rules; returns how many there are."""
    stock = StockRepository(CONNECTION).all()
    statuses = system.settings.available_statuses
    for variation_id, item in stock.items():
        truth = system.wholecell.account.available(int(variation_id), statuses, None)
        if outstanding:
            truth -= system.wholecell.account.outstanding(int(variation_id))
        assert item.calculated == truth, f"variation {variation_id}"
    return len(stock)


def test_without_product_variations_the_units_name_them(system: OrdersSystem) -> None:
    system.wholecell.set_contract_drift(absent_endpoints=["/product_variations"])

    assert system.watch().status == "succeeded"
    assert system.import_listings().status == "succeeded"

    assert _mirror_matches_wholecell(system) > 0
    listings = ListingsRepository(CONNECTION).all()
    assert [listing for listing in listings if listing.connected]
    alert = system.alerts()["wholecell-missing-endpoint-product-variations"]
    assert "/product_variations" in alert.message and "inventory list" in alert.message
    assert "not connected" in alert.message  # what it costs


def test_without_sales_order_statuses_the_open_ones_come_from_the_settings(system: OrdersSystem) -> None:
    system.wholecell.set_contract_drift(absent_endpoints=["/sales_order_statuses"])

    assert system.watch().status == "succeeded"

    # The settings' open statuses (Pending, Processing) are the demo account's: the same quantities.
    assert _mirror_matches_wholecell(system) > 0
    alert = system.alerts()["wholecell-missing-endpoint-sales-order-statuses"]
    assert "Pending, Processing" in alert.message and alert.action

    system.wholecell.set_contract_drift()
    assert system.watch().status == "succeeded"
    assert "wholecell-missing-endpoint-sales-order-statuses" not in system.alerts()


def test_without_sales_orders_the_stock_is_still_mirrored_without_outstanding(system: OrdersSystem) -> None:
    system.wholecell.set_contract_drift(absent_endpoints=["/sales_orders"])

    assert system.watch().status == "succeeded"
    assert system.watch().status == "succeeded"  # an incremental minute too

    assert _mirror_matches_wholecell(system, outstanding=False) > 0
    alert = system.alerts()["wholecell-missing-endpoint-sales-orders"]
    assert "not subtracted" in alert.message and "cannot be imported" in alert.message


def test_one_unreadable_unit_is_left_out_and_the_rest_syncs(system: OrdersSystem) -> None:
    healthy = system.wholecell.receive_units("IP13-128-M-A", 1)[0]
    broken = {**healthy, "id": 990001, "warehouse": {"id": 1, "name": None}}
    system.wholecell.add_raw_item("/inventories", broken)

    assert system.watch().status == "succeeded"

    assert _mirror_matches_wholecell(system) > 0
    alert = system.alerts()["wholecell-unreadable-unit-990001"]
    assert "unit 990001" in alert.message and "warehouse.name" in alert.message


def test_without_customers_orders_wait_with_the_reason_and_the_stock_still_syncs(
    system: OrdersSystem,
) -> None:
    system.wholecell.set_contract_drift(absent_endpoints=["/customers", "/stock_levels"])

    assert system.watch().status == "succeeded"
    assert system.import_listings().status == "succeeded"
    system.import_orders()

    assert _mirror_matches_wholecell(system) > 0
    assert system.wholecell.orders(channel="Backmarket") == []  # nothing half-created
    reasons = [
        alert.message for alert in system.alerts().values() if alert.alert_id.startswith("order-import")
    ]
    assert reasons and all("/customers" in reason for reason in reasons), reasons

    # Back: the orders are created, none held as "may already be in WholeCell" (no create was sent).
    system.wholecell.set_contract_drift()
    run = system.import_orders()
    open_orders = [order for order in system.backmarket.orders() if order["state"] in (1, 3)]
    assert run.counts.get("imported") == len(open_orders) and "needs_confirmation" not in run.counts


def test_without_product_variations_an_order_is_imported_with_the_variation_its_units_name(
    system: OrdersSystem,
) -> None:
    sku = _a_listed_sku(system)
    system.import_orders()  # the demo's open orders, with /product_variations there
    system.wholecell.set_contract_drift(absent_endpoints=["/product_variations"])
    order = system.backmarket.create_buyer_order(sku)

    run = system.import_orders()

    assert run.status == "succeeded" and run.counts.get("imported") == 1
    [item] = system.wholecell_order(order["order_id"])["order_items"]
    with_sku = [v["id"] for v in system.wholecell.variations() if (v["sku"] or "").lower() == sku.lower()]
    assert item["sku"] == sku and item["product_variation_id"] in with_sku
    assert not system.record(order["order_id"]).unknown_skus
    alert = system.alerts()["wholecell-missing-endpoint-product-variations"]
    assert "/product_variations" in alert.message and "inventory list" in alert.message
    assert "imported without" in alert.message  # what it costs the orders
