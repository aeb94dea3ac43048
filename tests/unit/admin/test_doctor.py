"""The doctor answers the seed's troubleshooting questions from stored data, with the fixing action."""

from __future__ import annotations

import pytest

from bmsync.clock import ManualClock
from bmsync.settings import BackMarketOrderStatus, ProductVariationMode, Settings
from bmsync.store.listings_repo import ListingItem, ListingsRepository
from bmsync.store.orders_repo import OrderRecord, OrdersRepository, ShipmentRecord
from bmsync.store.stock_repo import StockItem, StockRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync import doctor

CID = "default"


def listing(listing_id: str, sku: str, **fields: object) -> ListingItem:
    return ListingItem(
        connection_id=CID,
        listing_id=listing_id,
        sku=sku,
        title=f"Phone {sku}",
        imported_at="2026-01-05T08:00:00Z",
        seen_at="2026-01-05T08:00:00Z",
        **fields,
    )


@pytest.fixture
def repos(aws: None, clock: ManualClock) -> dict:
    return {
        "listings": ListingsRepository(CID),
        "stock": StockRepository(CID),
        "state": SyncStateRepository(CID, clock),
        "clock": clock,
    }


def store_order(orders: OrdersRepository, record: OrderRecord) -> None:
    def fill(stored: OrderRecord) -> bool:
        for name, value in record:
            if name != "revision":
                setattr(stored, name, value)
        return True

    orders.update(CID, record.order_id, fill, writer="order_import", now=ManualClock().now(), create=True)


def answers(diagnosis: doctor.Diagnosis) -> str:
    return " | ".join(f"{f.answer} -> {f.action}" for f in diagnosis.findings)


def test_a_listing_never_imported_says_run_import_listings(repos: dict) -> None:
    result = doctor.diagnose_listing(Settings(), "SKU-NOPE", **repos)
    assert not result.healthy
    assert result.findings[0].answer.startswith("Not imported yet")
    assert "Run Import listings" in result.findings[0].action


def test_an_unmapped_sku_names_the_sku_to_add(repos: dict) -> None:
    repos["listings"].create(listing("l-1", "BMTESTSKU1", sync_status="unmapped"))
    result = doctor.diagnose_listing(Settings(), "BMTESTSKU1", **repos)
    text = answers(result)
    assert "SKU BMTESTSKU1 is on no product variation" in text
    assert "Add SKU BMTESTSKU1 to at least one product variation" in text


def test_product_not_set_in_choose_specific_mode(repos: dict) -> None:
    settings = Settings(product_variations=ProductVariationMode.CHOOSE_SPECIFIC)
    repos["listings"].create(listing("l-2", "SKU-2", sync_status="product_not_set"))
    text = answers(doctor.diagnose_listing(settings, "l-2", **repos))
    assert "Product not set!" in text and "choose its product variation" in text


def test_quantity_sync_off_is_named_and_quantities_are_explained(repos: dict) -> None:
    repos["listings"].create(listing("l-3", "SKU-3", connected=True, variation_ids=["7"], bm_quantity=1))
    repos["stock"].put(
        StockItem(connection_id=CID, variation_id="7", sku="SKU-3", available=5, calculated=4, as_of="x")
    )
    off = doctor.diagnose_listing(Settings(safety_buffer=1), "SKU-3", **repos)
    assert "quantity sync is off" in answers(off)
    assert "Enable Inventory Quantity Sync" in answers(off)
    on = doctor.diagnose_listing(Settings(safety_buffer=1, quantity_sync_enabled=True), "SKU-3", **repos)
    assert "Calculated 4 - buffer 1 = 3; Back Market shows 1" in answers(on)
    assert not on.healthy  # 3 computed, 1 shown


def test_a_healthy_listing_is_all_ok(repos: dict) -> None:
    repos["listings"].create(listing("l-4", "SKU-4", connected=True, variation_ids=["8"], bm_quantity=2))
    repos["stock"].put(StockItem(connection_id=CID, variation_id="8", sku="SKU-4", calculated=2, as_of="x"))
    assert doctor.diagnose_listing(Settings(quantity_sync_enabled=True), "l-4", **repos).healthy


def test_order_problems_in_plain_words(aws: None) -> None:
    orders = OrdersRepository()
    settings = Settings(
        order_import_enabled=True,
        order_status_map={BackMarketOrderStatus.ACCEPTED: "Processing"},
    )
    record = OrderRecord(
        connection_id=CID,
        order_id="5001",
        bm_state=1,
        bm_status="paid",
        import_state="not_imported",
        import_status="not imported: Back Market state 1 (paid, waiting for validation) is not mapped",
        unknown_skus=["ODD-SKU"],
        shipment=ShipmentRecord(tracking_number="1Z999"),
        export_state="held_not_validated",
        export_reason="shipment held: validate order 5001 on Back Market first",
        status_note="WholeCell status changed by hand to 'Shipped': "
        "Back Market state 3 maps to 'Processing'.",
    )
    store_order(orders, record)
    text = answers(doctor.diagnose_order(settings, "5001", orders=orders))
    assert "Back Market state 1 (paid, waiting for validation) is not mapped to a WholeCell status" in text
    assert "Unknown SKU" in text and "ODD-SKU" in text
    assert "shipment held: the order was not validated on Back Market" in text
    assert "Validate (accept) the order on Back Market" in text
    assert "changed by hand" in text and "order status mapping" in text


def test_an_order_not_seen_with_import_off_says_so(aws: None) -> None:
    result = doctor.diagnose_order(Settings(), "42", orders=OrdersRepository())
    assert "order import is off" in answers(result)
    assert "Enable Order Import" in answers(result)


def test_connection_diagnosis(repos: dict) -> None:
    settings = Settings(order_status_map={BackMarketOrderStatus.ACCEPTED: "Processing"})
    repos["state"].raise_alert(
        "backmarket-token", "Back Market rejected the token", severity="critical", action="Save a new token"
    )
    result = doctor.diagnose_connection(
        settings,
        secrets_set={"backmarket_token_set": True, "wholecell_credentials_set": False},
        listings=repos["listings"],
        orders=OrdersRepository(),
        state=repos["state"],
    )
    text = answers(result)
    assert "Save the WholeCell App ID and Secret on the Connection page" in text
    assert "Back Market rejected the token -> Save a new token" in text
    assert "Back Market state 1 (paid, waiting for validation) is not mapped to a WholeCell status" in text
    assert "quantity sync is off" in text and "orders are not coming in" in text
    assert "No listing imported yet" in text
