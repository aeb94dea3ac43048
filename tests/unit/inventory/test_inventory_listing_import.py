"""listing_import: the Listings tab, its mapping and its summary."""

from __future__ import annotations

from bmsync.settings import ListingImportScope, ProductVariationMode
from tests.unit.inventory.conftest import Inventory


def test_online_listings_are_imported_with_their_mapping_and_a_summary(inventory: Inventory) -> None:
    inventory.variation(1, "IP13-128-M-A")
    inventory.variation(2, "ip13-128-m-a")  # SKU uniqueness off: a second grade with the same SKU
    inventory.backmarket.add("L-1", "IP13-128-M-A", 4)
    inventory.backmarket.add("L-2", "BMTESTSKU1", 2)
    inventory.backmarket.add("L-3", "IP13-128-M-C", 5, publication_state=3)  # taken offline by hand

    run = inventory.import_listings()

    assert run.status == "succeeded"
    assert run.counts == {"seen": 2, "new": 2, "changed": 0, "connected": 1, "unmapped": 1, "missing": 0}
    connected = inventory.listing("L-1")
    assert connected.connected and connected.variation_ids == ["1", "2"] and connected.bm_quantity == 4
    assert connected.title == "iPhone 13 128GB - Midnight" and connected.grade == "EXCELLENT"
    unmapped = inventory.listing("L-2")
    assert not unmapped.connected and unmapped.sync_status == "unmapped"
    assert "SKU BMTESTSKU1 is not on any product variation in WholeCell" in unmapped.reason
    assert inventory.listings.get("L-3") is None
    assert "2 listings imported (online)" in run.progress


def test_online_only_keeps_listings_that_went_offline_by_selling_out(inventory: Inventory) -> None:
    # A real seller: nearly every listing is offline at 0 (or -1 after a double checkout).
    inventory.backmarket.add("L-1", "SKU-1", 4)
    inventory.backmarket.add("L-2", "SKU-2", 0, publication_state=3)
    inventory.backmarket.add("L-3", "SKU-3", -1, publication_state=3)
    inventory.backmarket.add("L-4", "SKU-4", 3, publication_state=3)  # offline with stock: by hand

    run = inventory.import_listings()

    assert run.counts["seen"] == 3 and "3 listings imported (online)" in run.progress
    assert inventory.listing("L-2").bm_quantity == 0 and inventory.listing("L-3").bm_quantity == -1
    assert inventory.listings.get("L-4") is None
    # What each scope would bring, kept for the console (no Back Market call per page view).
    counts = inventory.state.get_document("listing_counts")
    assert counts is not None
    assert (counts["all"], counts["online"], counts["offline_sold_out"]) == (4, 1, 2)
    assert counts["counted_at"]


def test_all_listings_scope_includes_offline_ones(inventory: Inventory) -> None:
    inventory.configure(listing_import_scope=ListingImportScope.ALL)
    inventory.backmarket.add("L-1", "SKU-1", 4)
    inventory.backmarket.add("L-3", "SKU-3", 0, publication_state=3)
    assert inventory.import_listings().counts["seen"] == 2
    assert inventory.listing("L-3").publication_state == 3


def test_a_reimport_changes_only_what_back_market_changed_and_keeps_the_rest(inventory: Inventory) -> None:
    inventory.backmarket.add("L-1", "SKU-1", 4)
    inventory.backmarket.add("L-2", "SKU-2", 1)
    inventory.import_listings()
    inventory.listings.set_overrides("L-1", buffer_override=2, sync_paused=False, writer="admin")
    inventory.listings.update_fields(
        "L-1", {"last_synced": 4, "sync_status": "in_sync"}, writer="quantity_sync"
    )
    inventory.backmarket.listings["L-1"].quantity = 3
    inventory.backmarket.listings["L-1"].title = "iPhone 13 (renamed)"

    run = inventory.import_listings()

    assert run.counts["new"] == 0 and run.counts["changed"] == 1 and run.counts["seen"] == 2
    listing = inventory.listing("L-1")
    assert listing.bm_quantity == 3 and listing.title == "iPhone 13 (renamed)"
    assert listing.buffer_override == 2 and listing.last_synced == 4 and listing.sync_status == "in_sync"
    assert listing.last_writer == "listing_import"
    assert inventory.listing("L-2").last_writer == "listing_import"


def test_an_unchanged_listing_is_not_written_again(inventory: Inventory) -> None:
    inventory.backmarket.add("L-1", "SKU-1", 4)
    inventory.import_listings()
    inventory.listings_stream.read()
    inventory.later(60)
    assert inventory.import_listings().counts["changed"] == 0
    assert inventory.listings_stream.read() == []


def test_a_listing_that_disappears_is_noted_and_kept(inventory: Inventory) -> None:
    inventory.backmarket.add("L-1", "SKU-1", 4)
    inventory.import_listings()
    inventory.backmarket.listings["L-1"].publication_state = 3  # sold out: offline
    run = inventory.import_listings()
    assert run.counts["missing"] == 1
    missing = inventory.listing("L-1")
    assert missing.missing_since is not None and missing.sku == "SKU-1"
    assert "1 no longer listed" in run.progress
    # Noted once, not on every run; cleared when it is back.
    assert inventory.import_listings().counts["missing"] == 0
    inventory.backmarket.listings["L-1"].publication_state = 2
    inventory.import_listings()
    assert inventory.listing("L-1").missing_since is None


def test_choose_specific_mode_starts_with_product_not_set_and_keeps_the_choice(inventory: Inventory) -> None:
    inventory.configure(product_variations=ProductVariationMode.CHOOSE_SPECIFIC)
    inventory.variation(1, "SKU-1")
    inventory.backmarket.add("L-1", "SKU-1", 4)
    run = inventory.import_listings()
    listing = inventory.listing("L-1")
    assert run.counts["unmapped"] == 1
    assert (
        listing.sync_status == "product_not_set" and listing.reason == "Product not set: choose a variation"
    )

    inventory.listings.set_chosen_variations("L-1", ["7", "9"], writer="admin")
    inventory.backmarket.listings["L-1"].quantity = 2
    run = inventory.import_listings()
    listing = inventory.listing("L-1")
    assert run.counts["connected"] == 1
    assert listing.connected and listing.chosen_variation_ids == listing.variation_ids == ["7", "9"]
    assert inventory.listings.chosen_variations("L-1") == ["7", "9"]
    assert inventory.listings.listings_of_variation("7") == ["L-1"]


def test_progress_is_saved_during_a_long_import(inventory: Inventory) -> None:
    for index in range(120):
        inventory.backmarket.add(f"L-{index}", f"SKU-{index}", 1)
    run = inventory.import_listings()
    assert run.counts["new"] == 120
    stored = inventory.state.last_run("listing_import")
    assert stored is not None and stored.status == "succeeded" and stored.counts["seen"] == 120
