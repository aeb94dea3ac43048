"""order_import end to end on the sandbox runtime: the real handler, clients, emulators and tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.settings import BackMarketOrderStatus, OrganizationType, ProductVariationMode
from bmsync.store.listings_repo import ListingsRepository
from bmsync_sandbox.demo_catalogue import UNKNOWN_SKU
from tests.e2e.orders_sandbox import CONNECTION, OrdersSystem, orders_system


@pytest.fixture
def system(tmp_path: Path) -> Iterator[OrdersSystem]:
    with orders_system(tmp_path) as running:
        yield running


def _backmarket_orders(system: OrdersSystem, state: int) -> list[dict]:
    return [order for order in system.backmarket.orders() if order["state"] == state]


def _wholecell_backmarket_orders(system: OrdersSystem) -> dict[str, dict]:
    orders = system.wholecell.orders(channel="Backmarket")
    external_ids = [order["external_id"] for order in orders]
    assert len(external_ids) == len(set(external_ids)), "a Back Market order was created twice"
    return {order["external_id"]: order for order in orders}


def _a_listed_sku(system: OrdersSystem) -> str:
    return next(
        listing["sku"]
        for listing in system.backmarket.listings()
        if listing["quantity"] >= 3 and listing["sku"] != UNKNOWN_SKU
    )


def test_first_import_then_incremental_import_with_shipping_names(system: OrdersSystem) -> None:
    paid, accepted = _backmarket_orders(system, 1), _backmarket_orders(system, 3)
    finished = _backmarket_orders(system, 9)
    assert paid and accepted and finished  # the demo account has orders in every state

    run = system.import_orders()

    assert run.status == "succeeded" and run.counts["imported"] == len(paid) + len(accepted)
    created = _wholecell_backmarket_orders(system)
    assert set(created) == {str(order["order_id"]) for order in paid + accepted}
    for order in paid:
        wholecell_order = created[str(order["order_id"])]
        address = order["shipping_address"]
        assert wholecell_order["status"] == "Pending" and wholecell_order["channel"] == "Backmarket"
        assert wholecell_order["customer"]["name"] == f"{address['first_name']} {address['last_name']}"
        [item] = wholecell_order["order_items"]
        line = order["orderlines"][0]
        assert item["sku"] == line["listing"] and item["product_variation_id"] is not None
        assert item["price"] == round(float(line["price"]) * 100)
    assert all(created[str(order["order_id"])]["status"] == "Processing" for order in accepted)

    # A buyer orders: the next minute's run imports it, and only it.
    new_order = system.backmarket.create_buyer_order(_a_listed_sku(system))
    run = system.import_orders()
    assert run.counts.get("imported") == 1 and "changed since the last run" in run.progress
    assert str(new_order["order_id"]) in _wholecell_backmarket_orders(system)
    record = system.record(new_order["order_id"])
    assert record.import_status == f"imported as WholeCell sales order {record.wholecell_order_id}"

    # Nothing new: a run creates nothing (the overlap re-reads, it never duplicates).
    run = system.import_orders()
    assert "imported" not in run.counts and len(_wholecell_backmarket_orders(system)) == len(created) + 1


def test_channel_name_customer_and_chosen_variations(tmp_path: Path) -> None:
    with orders_system(
        tmp_path,
        organization_type=OrganizationType.CHANNEL_NAME,
        product_variations=ProductVariationMode.CHOOSE_SPECIFIC,
    ) as system:
        sku = _a_listed_sku(system)
        variations = [v for v in system.wholecell.variations() if (v["sku"] or "").lower() == sku.lower()]
        chosen = variations[-1]["id"]
        system.import_listings()
        listings = ListingsRepository(CONNECTION)
        [listing] = listings.by_sku(sku)
        listings.set_chosen_variations(listing.listing_id, [str(chosen)], writer="admin")
        system.import_orders()  # the demo's open orders
        order = system.backmarket.create_buyer_order(sku)

        system.import_orders()

        wholecell_order = system.wholecell_order(order["order_id"])
        assert wholecell_order["customer"]["name"] == "Back Market"
        assert [item["product_variation_id"] for item in wholecell_order["order_items"]] == [chosen]
        customers = {o["customer"]["name"] for o in system.wholecell.orders(channel="Backmarket")}
        assert customers == {"Back Market"}


def test_unknown_sku_is_imported_as_unknown_item_with_an_alert(system: OrdersSystem) -> None:
    system.backmarket.set_listing_quantity(UNKNOWN_SKU, 5)
    order = system.backmarket.create_buyer_order(UNKNOWN_SKU)

    system.import_orders()

    [item] = system.wholecell_order(order["order_id"])["order_items"]
    assert item["product_variation_id"] is None and item["sku"] == UNKNOWN_SKU
    assert item["description"] == order["orderlines"][0]["product"]
    record = system.record(order["order_id"])
    assert record.unknown_skus == [UNKNOWN_SKU]
    assert f"Unknown SKU: {UNKNOWN_SKU}" in record.import_status
    alert = system.alerts()[f"unknown-sku-{UNKNOWN_SKU.lower()}"]
    assert f"no WholeCell product variation has the SKU '{UNKNOWN_SKU}'" in alert.message
    assert "Add the SKU" in alert.action


def test_orders_not_coming_in_import_off_then_an_unmapped_state(system: OrdersSystem) -> None:
    system.configure(order_import_enabled=False)
    run = system.import_orders()
    assert run.progress.startswith("Order import is switched off")
    assert system.wholecell.orders(channel="Backmarket") == []
    assert system.alerts()["order-import-off"].action == "Switch on 'Enable order import' in the settings."

    status_map = dict(system.settings.order_status_map)
    del status_map[BackMarketOrderStatus.PAID]
    system.configure(order_import_enabled=True, order_status_map=status_map)
    run = system.import_orders()

    paid = _backmarket_orders(system, 1)
    assert run.counts["not_mapped"] == len(paid)
    assert set(_wholecell_backmarket_orders(system)) == {
        str(order["order_id"]) for order in _backmarket_orders(system, 3)
    }
    record = system.record(paid[0]["order_id"])
    assert record.import_state == "not_imported"
    assert record.import_status.startswith(
        "not imported: Back Market state 1 (paid, waiting for validation) is not mapped to a WholeCell status"
    )
    assert "order-status-unmapped-paid" in system.alerts()


def test_an_imported_order_lowers_the_stock_mirror_at_once(system: OrdersSystem) -> None:
    from bmsync.store.stock_repo import StockRepository

    system.import_orders()
    system.watch()  # the stock mirror, as WholeCell shows it now
    sku = _a_listed_sku(system)
    stock = StockRepository(CONNECTION)
    before = sum(item.calculated for item in stock.by_sku(sku))

    order = system.backmarket.create_buyer_order(sku)
    system.import_orders()

    items = stock.by_sku(sku)
    assert sum(item.calculated for item in items) == before - 1  # before WholeCell's numbers are read
    assert "order_import" in {item.last_writer for item in items}
    # wholecell_watch then reads WholeCell's own numbers: the same value, so nothing is written.
    system.watch()
    assert sum(item.calculated for item in stock.by_sku(sku)) == before - 1
    assert system.record(order["order_id"]).stock_reserved
