"""Listings tab, variation choice, listing import, orders and doctor through the admin's routes."""

from __future__ import annotations

import pytest

from bmsync.admin.variations import VariationChoice
from bmsync.clock import ManualClock
from bmsync.settings import ProductVariationMode, Settings
from bmsync.store.listings_repo import ListingItem, ListingsRepository
from bmsync.store.orders_repo import OrderLineRecord, OrderRecord, OrdersRepository
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.stock_repo import StockItem, StockRepository
from bmsync.store.sync_state import SyncStateRepository
from tests.unit.admin.conftest import AdminClient

CID = "default"
API = f"/api/connections/{CID}"
PAGES = f"/connections/{CID}"
VARIATIONS = [
    VariationChoice(id="101", sku="IP12-64-A", label="Apple iPhone 12 64GB Grade A"),
    VariationChoice(id="102", sku="IP12-64-B", label="Apple iPhone 12 64GB Grade B"),
]


def _listing(listing_id: str, sku: str, title: str, **fields: object) -> ListingItem:
    return ListingItem(
        connection_id=CID,
        listing_id=listing_id,
        sku=sku,
        title=title,
        imported_at="2026-01-05T08:00:00Z",
        seen_at="2026-01-05T08:00:00Z",
        **fields,
    )


@pytest.fixture
def catalogue(services, aws: None, clock: ManualClock) -> ListingsRepository:
    services.variations = lambda settings, clock: list(VARIATIONS)
    SettingsRepository().save(
        Settings(product_variations=ProductVariationMode.CHOOSE_SPECIFIC, quantity_sync_enabled=True)
    )
    listings = ListingsRepository(CID)
    listings.create(_listing("uuid-a", "IP12-64-A", "iPhone 12 <64GB>", bm_quantity=2))
    listings.create(
        _listing("uuid-b", "IP13-128", "iPhone 13", connected=True, variation_ids=["102"], bm_quantity=3)
    )
    listings.set_chosen_variations("uuid-b", ["102"], writer="listing_import")
    listings.create(
        _listing(
            "uuid-c",
            "IP11",
            "iPhone 11",
            connected=True,
            variation_ids=["103"],
            sync_status="error",
            last_error="Back Market refused the quantity",
        )
    )
    StockRepository(CID).put(
        StockItem(
            connection_id=CID, variation_id="101", sku="IP12-64-A", available=4, calculated=4, as_of="x"
        )
    )
    return listings


def test_listing_filters_and_search(signed_in: AdminClient, catalogue: ListingsRepository) -> None:
    def ids(query: str) -> list[str]:
        reply = signed_in.api("GET", f"{API}/listings{query}")
        assert reply.status == 200, reply.body
        return [item["listing_id"] for item in reply.json()["listings"]]

    assert sorted(ids("")) == ["uuid-a", "uuid-b", "uuid-c"]
    assert ids("?filter=product_not_set") == ["uuid-a"]
    assert sorted(ids("?filter=connected")) == ["uuid-b", "uuid-c"]
    assert ids("?filter=sync_error") == ["uuid-c"]
    assert ids("?q=ip13") == ["uuid-b"]
    bad = signed_in.api("GET", f"{API}/listings?filter=everything")
    assert bad.status == 400 and bad.json()["errors"][0]["field"] == "filter"
    page = signed_in.request("GET", f"{PAGES}/listings?filter=product_not_set")
    assert "\u26a0 Product not set!" in page.body
    assert f'href="{PAGES}/listings/uuid-a/variations"' in page.body
    assert "iPhone 12 &lt;64GB&gt;" in page.body


def test_choosing_a_variation_connects_the_listing(
    signed_in: AdminClient, catalogue: ListingsRepository
) -> None:
    choice = signed_in.request("GET", f"{PAGES}/listings/uuid-a/variations?q=grade a")
    assert "Apple iPhone 12 64GB Grade A" in choice.body and "Grade B" not in choice.body
    saved = signed_in.request(
        "POST",
        f"{PAGES}/listings/uuid-a/variations",
        form={"csrf_token": signed_in.csrf, "variation_id": "101"},
    )
    assert saved.status == 303
    stored = catalogue.get("uuid-a")
    assert stored is not None and stored.connected
    assert stored.last_writer == "admin"
    assert catalogue.chosen_variations("uuid-a") == ["101"]
    document = signed_in.api("GET", f"{API}/listings/uuid-a").json()
    assert document["mapping"]["chosen_variations"] == ["101"]
    assert document["quantities"]["calculated"] == 4 and document["quantities"]["backmarket"] == 2
    page = signed_in.request("GET", f"{PAGES}/listings/uuid-a")
    assert "Product not set" not in page.body and "Calculated 4 - buffer 0 = 4" in page.body


def test_variation_api_validates_and_clears(signed_in: AdminClient, catalogue: ListingsRepository) -> None:
    unknown = signed_in.api("PUT", f"{API}/listings/uuid-a/variations", {"variation_ids": ["999"]})
    assert unknown.status == 422 and unknown.json()["errors"][0]["field"] == "variation_ids"
    wrong_type = signed_in.api("PUT", f"{API}/listings/uuid-a/variations", {"variation_ids": "101"})
    assert wrong_type.status == 422 and wrong_type.json()["errors"][0]["field"] == "variation_ids"
    missing = signed_in.api("PUT", f"{API}/listings/nope/variations", {"variation_ids": []})
    assert missing.status == 404
    stored = catalogue.get("uuid-a")
    assert stored is not None and not stored.connected
    cleared = signed_in.api("PUT", f"{API}/listings/uuid-b/variations", {"variation_ids": []})
    assert cleared.status == 200
    assert cleared.json()["mapping"]["connected"] is False
    assert catalogue.chosen_variations("uuid-b") == []


def test_variations_cannot_be_chosen_in_match_via_sku_mode(
    signed_in: AdminClient, catalogue: ListingsRepository
) -> None:
    settings = SettingsRepository().get(CID)
    assert settings is not None
    SettingsRepository().save(
        settings.model_copy(update={"product_variations": ProductVariationMode.MATCH_VIA_SKU})
    )
    refused = signed_in.api("PUT", f"{API}/listings/uuid-a/variations", {"variation_ids": ["101"]})
    assert refused.status == 409 and refused.json()["errors"][0]["field"] == "product_variations"
    assert catalogue.chosen_variations("uuid-a") == []


def test_listing_import_starts_and_shows_progress(
    signed_in: AdminClient, catalogue: ListingsRepository, started_imports: list[str], clock: ManualClock
) -> None:
    assert signed_in.api("GET", f"{API}/listing-import").json() == {"run": None}
    started = signed_in.api("POST", f"{API}/listing-import")
    assert started.status == 202 and started_imports == [CID]
    state = SyncStateRepository(CID, clock)
    run = state.start_run("listing_import")
    run.progress = "120 listings read"
    state.save_run(run)
    assert signed_in.api("GET", f"{API}/listing-import").json()["run"]["progress"] == "120 listings read"
    page = signed_in.request("POST", f"{PAGES}/listing-import", form={"csrf_token": signed_in.csrf})
    assert page.status == 303 and started_imports == [CID, CID]
    assert "120 listings read" in signed_in.request("GET", f"{PAGES}/listings").body


def test_orders_list_and_detail_flag_unknown_skus(
    signed_in: AdminClient, aws: None, clock: ManualClock
) -> None:
    def fill(record: OrderRecord) -> bool:
        record.bm_state = 3
        record.bm_status = "accepted"
        record.import_state = "imported"
        record.wholecell_order_id = 77
        record.wholecell_status = "Processing"
        record.unknown_skus = ["MYSTERY"]
        record.lines = [OrderLineRecord(line_id=1, sku="MYSTERY", state=2, product="Phone")]
        record.export_state = "held_not_validated"
        record.export_reason = "shipment held: validate order 9001 on Back Market first"
        record.add_history(clock.now(), "imported as WholeCell sales order 77")
        return True

    OrdersRepository().update(CID, "9001", fill, writer="order_import", now=clock.now(), create=True)
    listed = signed_in.api("GET", f"{API}/orders?filter=unknown_sku").json()["orders"]
    assert [order["order_id"] for order in listed] == ["9001"]
    assert signed_in.api("GET", f"{API}/orders?filter=not_imported").json()["orders"] == []
    detail = signed_in.api("GET", f"{API}/orders/9001").json()
    assert detail["order"]["wholecell_order_id"] == 77
    assert any("Unknown SKU" in finding["answer"] for finding in detail["explanation"])
    page = signed_in.request("GET", f"{PAGES}/orders/9001")
    assert "Unknown SKU" in page.body and "imported as WholeCell sales order 77" in page.body
    assert "shipment held: the order was not validated on Back Market" in page.body
    assert signed_in.api("GET", f"{API}/orders/12345").status == 404


def test_doctor_routes(signed_in: AdminClient, catalogue: ListingsRepository) -> None:
    listing = signed_in.api("GET", f"{API}/doctor?listing=IP12-64-A").json()
    assert listing["healthy"] is False
    assert any("Product not set" in finding["answer"] for finding in listing["findings"])
    never = signed_in.request("GET", f"{PAGES}/doctor?listing=NEVER-SEEN")
    assert "Not imported yet" in never.body and "Run Import listings" in never.body
    connection = signed_in.api("GET", f"{API}/doctor").json()
    assert connection["subject"] == f"connection {CID}"
    both = signed_in.api("GET", f"{API}/doctor?listing=x&order=1")
    assert both.status == 400 and both.json()["errors"][0]["field"] == "listing"
    assert signed_in.api("GET", f"{API}/doctor?order=abc").status == 400


def test_status_backlog_counts_waiting_work(signed_in: AdminClient, catalogue: ListingsRepository) -> None:
    backlog = signed_in.api("GET", f"{API}/status").json()["backlog"]
    assert backlog["listings not connected"] == 1
    assert backlog["listing quantity sync errors"] == 1


def test_a_listing_can_have_its_own_buffer_or_be_paused(
    signed_in: AdminClient, catalogue: ListingsRepository
) -> None:
    invalid = signed_in.api(
        "PUT", f"{API}/listings/uuid-b/overrides", {"buffer_override": -2, "sync_paused": False}
    )
    assert invalid.status == 422 and invalid.json()["errors"][0]["field"] == "buffer_override"
    saved = signed_in.api(
        "PUT", f"{API}/listings/uuid-b/overrides", {"buffer_override": 1, "sync_paused": True}
    )
    assert saved.status == 200
    assert any("paused" in finding["answer"] for finding in saved.json()["explanation"])
    stored = catalogue.get("uuid-b")
    assert stored is not None and stored.buffer_override == 1 and stored.sync_paused
    assert stored.last_writer == "admin"
    form = signed_in.request(
        "POST",
        f"{PAGES}/listings/uuid-b/overrides",
        form={"csrf_token": signed_in.csrf, "buffer_override": ""},
    )
    assert form.status == 303
    resumed = catalogue.get("uuid-b")
    assert resumed is not None and resumed.buffer_override is None and not resumed.sync_paused
    bad_form = signed_in.request(
        "POST",
        f"{PAGES}/listings/uuid-b/overrides",
        form={"csrf_token": signed_in.csrf, "buffer_override": "x"},
    )
    assert bad_form.status == 422 and "buffer_override" in bad_form.body


def test_orders_show_their_currency_and_flag_another_than_the_accounts(
    signed_in: AdminClient, aws: None, clock: ManualClock
) -> None:
    def euro(record: OrderRecord) -> bool:
        record.import_state = "imported"
        record.currency, record.market, record.currency_mismatch = "EUR", "de-de", True
        record.lines = [
            OrderLineRecord(
                line_id=1, sku="MBA", state=2, quantity=2, price_cents=89400, unit_prices_cents=[44700, 44700]
            )
        ]
        return True

    OrdersRepository().update(CID, "9002", euro, writer="order_import", now=clock.now(), create=True)
    listed = signed_in.request("GET", f"{PAGES}/orders").body
    assert "894.00 EUR" in listed and "Other currency (de-de)" in listed
    page = signed_in.request("GET", f"{PAGES}/orders/9002").body
    assert "447.00 EUR + 447.00 EUR" in page and "Other currency (de-de)" in page
    [summary] = signed_in.api("GET", f"{API}/orders").json()["orders"]
    assert (summary["currency"], summary["currency_mismatch"]) == ("EUR", True)


def test_the_listings_page_shows_what_each_import_scope_brings(
    signed_in: AdminClient, catalogue: ListingsRepository, clock: ManualClock
) -> None:
    assert "offline because sold out" not in signed_in.request("GET", f"{PAGES}/listings").body
    SyncStateRepository(CID, clock).put_document(
        "listing_counts",
        {"all": 828, "online": 1, "offline_sold_out": 827, "counted_at": "2026-01-05T08:00:00Z"},
    )
    body = signed_in.request("GET", f"{PAGES}/listings").body
    assert "828 listings in all, 1 online, 827 offline because sold out" in body
    assert "imports the online ones and the sold-out ones (so restocking brings them back): 828" in body
