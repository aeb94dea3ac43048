"""quantity_sync: Back Market shows what WholeCell can sell, pushed once, decreases first."""

from __future__ import annotations

from bmsync.backmarket.errors import ServerError, Unauthorized
from bmsync.settings import ListingImportScope, ProductVariationMode
from bmsync.store.stock_repo import StockItem
from bmsync.sync.flow import run_flow
from bmsync.sync.quantity_sync import explain_quantity
from tests.unit.inventory.conftest import Inventory


def connected_listing(inventory: Inventory, *, units: int, bm_quantity: int, sku: str = "SKU-1") -> None:
    variation = inventory.variation(1, sku)
    inventory.receive(variation, units)
    inventory.backmarket.add("L-1", sku, bm_quantity, publication_state=2 if bm_quantity > 0 else 3)
    inventory.import_listings()
    inventory.watch()


def test_a_unit_received_in_wholecell_raises_the_listing_once(inventory: Inventory) -> None:
    connected_listing(inventory, units=3, bm_quantity=1)
    responses = inventory.cycle()
    assert all(response == {"batchItemFailures": []} for response in responses)
    assert inventory.backmarket.updates == [("L-1", 3, None)]
    listing = inventory.listing("L-1")
    assert listing.sync_status == "in_sync" and listing.last_synced == 3 and listing.last_calculated == 3
    assert listing.last_synced_at is not None and listing.last_writer == "quantity_sync"

    inventory.receive(inventory.wholecell.variations[0], 1)
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.updates[-1] == ("L-1", 4, None) and len(inventory.backmarket.updates) == 2


def test_nothing_is_sent_when_the_quantity_did_not_change(inventory: Inventory) -> None:
    connected_listing(inventory, units=2, bm_quantity=2)
    inventory.cycle()
    assert inventory.backmarket.updates == []
    listing = inventory.listing("L-1")
    assert listing.sync_status == "in_sync" and listing.last_synced == 2
    assert "nothing to send" in listing.reason


def test_a_listing_back_in_stock_is_republished(inventory: Inventory) -> None:
    inventory.configure(listing_import_scope=ListingImportScope.ALL)
    connected_listing(inventory, units=0, bm_quantity=0)
    inventory.cycle()
    assert inventory.backmarket.updates == []
    inventory.receive(inventory.wholecell.variations[0], 2)
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.updates == [("L-1", 2, 2)]
    assert inventory.backmarket.listings["L-1"].publication_state == 2
    assert "put the listing back online" in inventory.listing("L-1").reason


def test_a_listing_at_minus_one_is_sold_out_left_alone_then_republished(inventory: Inventory) -> None:
    # A double checkout: Back Market shows -1 on an offline listing.
    connected_listing(inventory, units=0, bm_quantity=-1)
    inventory.cycle()
    inventory.drift_check()
    assert inventory.backmarket.updates == []  # 0 over -1 would change nothing: both are sold out
    inventory.receive(inventory.wholecell.variations[0], 2)
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.updates == [("L-1", 2, 2)]
    assert inventory.backmarket.listings["L-1"].publication_state == 2
    assert "put the listing back online" in inventory.listing("L-1").reason


def test_sku_mode_sums_every_variation_sharing_the_sku(inventory: Inventory) -> None:
    for variation_id in (1, 2, 3):
        inventory.receive(inventory.variation(variation_id, "SHARED-A"), variation_id)
    inventory.receive(inventory.variation(4, "OTHER"), 5)
    inventory.backmarket.add("L-1", "shared-a", 1)
    inventory.import_listings()
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.updates == [("L-1", 6, None)]


def test_choose_specific_mode_uses_only_the_chosen_variations(inventory: Inventory) -> None:
    inventory.configure(product_variations=ProductVariationMode.CHOOSE_SPECIFIC)
    inventory.receive(inventory.variation(1, "SKU-1"), 2)
    inventory.receive(inventory.variation(2, "SKU-1"), 3)
    inventory.receive(inventory.variation(3, "SKU-9"), 4)
    inventory.backmarket.add("L-1", "SKU-1", 1)
    inventory.import_listings()
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.updates == []
    assert inventory.listing("L-1").reason == "Product not set: choose a variation"

    inventory.listings.set_chosen_variations("L-1", ["1", "3"], writer="admin")
    inventory.cycle()
    assert inventory.backmarket.updates == [("L-1", 6, None)]

    # A unit of a variation that is not chosen does not move it; one of a chosen variation does.
    inventory.receive(inventory.wholecell.variations[1], 5)
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert len(inventory.backmarket.updates) == 1
    inventory.receive(inventory.wholecell.variations[2], 1)
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.updates[-1] == ("L-1", 7, None)


def test_a_back_market_sale_and_an_order_on_another_channel_lower_it(inventory: Inventory) -> None:
    connected_listing(inventory, units=5, bm_quantity=5)
    inventory.cycle()
    # Back Market lowers its own quantity on a sale; order_import then creates the WholeCell order.
    inventory.backmarket.listings["L-1"].quantity = 4
    inventory.order((1, 1), channel="Backmarket", external_id="900001")
    inventory.order((1, 2), channel="Amazon")
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.updates == [("L-1", 2, None)]


def test_the_safety_buffer_and_per_listing_overrides(inventory: Inventory) -> None:
    inventory.configure(safety_buffer=2)
    connected_listing(inventory, units=5, bm_quantity=1)
    inventory.cycle()
    assert inventory.backmarket.updates == [("L-1", 3, None)]
    inventory.listings.set_overrides("L-1", buffer_override=0, sync_paused=False, writer="admin")
    inventory.cycle()
    assert inventory.backmarket.updates[-1] == ("L-1", 5, None)
    inventory.listings.set_overrides("L-1", buffer_override=9, sync_paused=False, writer="admin")
    inventory.cycle()
    assert inventory.backmarket.updates[-1] == ("L-1", 0, None)

    inventory.listings.set_overrides("L-1", buffer_override=None, sync_paused=True, writer="admin")
    inventory.cycle()
    assert len(inventory.backmarket.updates) == 3
    assert inventory.listing("L-1").sync_status == "paused"


def test_quantity_sync_off_pushes_nothing_and_says_so(inventory: Inventory) -> None:
    inventory.configure(quantity_sync_enabled=False)
    connected_listing(inventory, units=4, bm_quantity=1)
    inventory.cycle()
    assert inventory.backmarket.updates == []
    listing = inventory.listing("L-1")
    assert listing.sync_status == "sync_off" and listing.last_calculated == 4
    assert listing.reason.startswith("quantity sync is off")


def test_an_unmapped_listing_is_never_pushed_and_carries_its_reason(inventory: Inventory) -> None:
    inventory.receive(inventory.variation(1, "SKU-1"), 4)
    inventory.backmarket.add("L-9", "BMTESTSKU1", 3)
    inventory.import_listings()
    inventory.watch()
    inventory.cycle()
    inventory.drift_check()
    assert inventory.backmarket.updates == []
    listing = inventory.listing("L-9")
    assert listing.sync_status == "unmapped"
    assert "SKU BMTESTSKU1 is not on any product variation in WholeCell" in listing.reason


def test_the_seeds_troubleshooting_questions_each_have_a_recorded_answer(inventory: Inventory) -> None:
    inventory.configure(quantity_sync_enabled=False)
    inventory.receive(inventory.variation(1, "SKU-1"), 4)
    inventory.receive(inventory.variation(2, "SKU-NOT-LISTED"), 4)
    inventory.backmarket.add("L-1", "SKU-1", 1)
    inventory.backmarket.add("L-9", "BMTESTSKU1", 3)
    inventory.import_listings()
    inventory.watch()
    inventory.cycle()
    rules = {"settings": inventory.settings, "listings": inventory.listings, "stock": inventory.stock}
    # Has the listing been imported?
    assert explain_quantity("SKU-NOT-LISTED", **rules) == [
        "no listing with SKU SKU-NOT-LISTED has been imported from Back Market: run Import listings"
    ]
    # Is the listing connected?
    [unconnected] = explain_quantity("BMTESTSKU1", **rules)
    assert "SKU BMTESTSKU1 is not on any product variation in WholeCell" in unconnected
    # Is the 'Enable Quantity Sync' box checked?
    [off] = explain_quantity("SKU-1", **rules)
    assert "quantity sync is off" in off
    assert inventory.listing("L-1").reason.startswith("quantity sync is off")


def test_many_changes_to_one_listing_across_batches_make_one_write(inventory: Inventory) -> None:
    # (The e2e test shows 1,000 WholeCell changes; here the stream side: 250 stock records, 3 batches.)
    connected_listing(inventory, units=1, bm_quantity=1)
    inventory.cycle()
    item = inventory.stock.get("1")
    assert item is not None
    for calculated in range(2, 252):
        inventory.stock.put(item.model_copy(update={"calculated": calculated}))
    records = inventory.pending_records()
    assert len(records) == 250
    responses = inventory.deliver(records, batch_size=100)
    assert len(responses) == 3
    assert inventory.backmarket.updates == [("L-1", 251, None)]


def test_a_replayed_or_duplicated_batch_writes_nothing_more(inventory: Inventory) -> None:
    connected_listing(inventory, units=3, bm_quantity=1)
    records = inventory.pending_records()
    inventory.deliver(records)
    inventory.deliver(records)  # Lambda redelivers the batch
    inventory.deliver(records + records)  # and duplicates within one
    assert inventory.backmarket.updates == [("L-1", 3, None)]


def test_quantity_syncs_own_listing_writes_do_not_trigger_it(inventory: Inventory) -> None:
    connected_listing(inventory, units=3, bm_quantity=1)
    inventory.cycle()
    own = [
        record
        for record in inventory.all_records
        if record["dynamodb"].get("NewImage", {}).get("last_writer", {}).get("S") == "quantity_sync"
    ]
    assert own  # quantity_sync recorded its result on the listing...
    inventory.backmarket.listings["L-1"].quantity = 99  # (a change a push would reveal)
    inventory.deliver(own)
    assert inventory.backmarket.updates == [("L-1", 3, None)]  # ...and ignores that write


def test_decreases_go_first_and_a_short_budget_defers_increases_not_decreases(inventory: Inventory) -> None:
    inventory.configure(listing_import_scope=ListingImportScope.ALL)
    # Four listings, each on its own SKU; Back Market shows 5 for all of them.
    targets = {"L-1": 0, "L-2": 3, "L-3": 9, "L-4": 7}
    for index, (listing_id, units) in enumerate(targets.items(), start=1):
        inventory.receive(inventory.variation(index, f"SKU-{index}"), units)
        inventory.backmarket.add(listing_id, f"SKU-{index}", 5)
    inventory.import_listings()
    inventory.backmarket.sku_budget = 3
    inventory.decrease_reserve = 0
    inventory.watch()
    inventory.cycle()
    # Both decreases went out (to zero first); one increase fitted (the larger one); one waits.
    assert inventory.backmarket.updates == [("L-1", 0, None), ("L-2", 3, None), ("L-3", 9, None)]
    deferred = inventory.listing("L-4")
    assert deferred.sync_status == "deferred" and deferred.last_calculated == 7
    assert deferred.reason == "not pushed: deferred by the SKU-update budget; the next drift check sends it"
    assert inventory.backmarket.listings["L-4"].quantity == 5

    # The budget comes back: the next drift check sends what was deferred, and nothing else.
    inventory.backmarket.sku_budget = 100
    run = inventory.drift_check()
    assert run.status == "succeeded" and run.counts["pushed"] == 1 and run.counts["drifted"] == 1
    assert inventory.backmarket.updates[-1] == ("L-4", 7, None)
    assert inventory.listing("L-4").sync_status == "in_sync"


def test_the_reserve_keeps_budget_for_decreases(inventory: Inventory) -> None:
    connected_listing(inventory, units=8, bm_quantity=1)
    inventory.backmarket.sku_budget = 20
    inventory.decrease_reserve = 20
    inventory.cycle()
    assert inventory.backmarket.updates == []
    assert inventory.listing("L-1").sync_status == "deferred"


def test_the_drift_check_repairs_a_listing_changed_behind_bmsyncs_back(inventory: Inventory) -> None:
    connected_listing(inventory, units=3, bm_quantity=3)
    inventory.cycle()
    inventory.backmarket.listings["L-1"].quantity = 50  # someone edits it in the Back Market portal
    run = inventory.drift_check()
    assert run.status == "succeeded" and run.counts["drifted"] == 1 and run.counts["pushed"] == 1
    assert inventory.backmarket.updates == [("L-1", 3, None)]
    assert inventory.backmarket.listings["L-1"].quantity == 3
    # A second check finds nothing to do.
    assert inventory.drift_check().counts["drifted"] == 0
    assert len(inventory.backmarket.updates) == 1


def test_a_transient_back_market_failure_is_retried_by_the_stream(inventory: Inventory) -> None:
    connected_listing(inventory, units=3, bm_quantity=1)
    records = inventory.pending_records()
    inventory.backmarket.fail_next = [ServerError("Back Market answered 503", status=503)]
    [response] = inventory.deliver(records)
    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    touching = {
        record["dynamodb"]["SequenceNumber"]
        for record in records
        if record["dynamodb"]["Keys"].get("listing_id", {}).get("S") == "L-1"
        or record["dynamodb"]["Keys"].get("variation_id", {}).get("S") == "1"
    }
    assert failed and failed <= touching
    listing = inventory.listing("L-1")
    assert listing.sync_status == "error" and "503" in (listing.last_error or "")
    # Lambda redelivers: this time it goes through.
    [response] = inventory.deliver(records)
    assert response == {"batchItemFailures": []}
    assert inventory.backmarket.updates == [("L-1", 3, None)]
    assert inventory.listing("L-1").last_error is None


def test_a_listing_back_market_no_longer_has_is_marked_gone(inventory: Inventory) -> None:
    connected_listing(inventory, units=3, bm_quantity=1)
    del inventory.backmarket.listings["L-1"]
    [response] = inventory.deliver(inventory.pending_records())
    assert response == {"batchItemFailures": []}  # retrying cannot help
    listing = inventory.listing("L-1")
    assert listing.sync_status == "gone" and "no longer has this listing" in listing.reason


def test_a_revoked_token_stops_the_batch_raises_one_alert_and_heals_after_the_fix(
    inventory: Inventory,
) -> None:
    inventory.receive(inventory.variation(1, "SKU-1"), 3)
    inventory.receive(inventory.variation(2, "SKU-2"), 4)
    inventory.backmarket.add("L-1", "SKU-1", 1)
    inventory.backmarket.add("L-2", "SKU-2", 1)
    inventory.import_listings()
    inventory.watch()
    inventory.backmarket.fail_next = [Unauthorized("Back Market rejected the token")]
    responses = inventory.cycle()
    assert all(response == {"batchItemFailures": []} for response in responses)  # retrying cannot help
    assert inventory.backmarket.fail_next == []  # one call failed; the other push was not even tried
    assert {inventory.listing(listing_id).sync_status for listing_id in ("L-1", "L-2")} == {"error"}
    [alert] = inventory.state.alerts()
    assert alert.severity == "critical" and "rejected the token" in alert.message and alert.action
    assert alert.count == 1

    # The seller saves a new token; the next drift check sends both and the alert clears.
    run = inventory.drift_check()
    assert run.counts["pushed"] == 2
    assert sorted(inventory.backmarket.updates) == [("L-1", 3, None), ("L-2", 4, None)]
    assert inventory.state.alerts() == []


def test_after_a_revoked_token_the_first_good_run_resends_the_failed_pushes_without_the_drift_check(
    inventory: Inventory,
) -> None:
    inventory.receive(inventory.variation(1, "SKU-1"), 3)
    inventory.receive(inventory.variation(2, "SKU-2"), 4)
    inventory.backmarket.add("L-1", "SKU-1", 1)
    inventory.backmarket.add("L-2", "SKU-2", 1)
    inventory.import_listings()
    inventory.watch()
    inventory.backmarket.fail_next = [Unauthorized("Back Market rejected the token")]
    inventory.cycle()
    assert {inventory.listing(listing_id).sync_status for listing_id in ("L-1", "L-2")} == {"error"}

    # The seller saves a new token. shipment_export's next minute succeeds, but it cannot reach the
    # listings table: it leaves the alert to a flow that can resend the pushes.
    inventory.later(1)
    shipments = run_flow(
        "shipment_export", inventory.state, inventory.clock, lambda run: None, services=("backmarket",)
    )
    assert shipments.status == "succeeded" and len(inventory.state.alerts()) == 1
    assert {inventory.listing(listing_id).sync_status for listing_id in ("L-1", "L-2")} == {"error"}
    # order_import's run reads Back Market fine: the listings go again through their stream at once,
    # not at the next hourly drift check, and the alert clears.
    good = run_flow(
        "order_import",
        inventory.state,
        inventory.clock,
        lambda run: None,
        services=("backmarket",),
        listings=inventory.listings,
    )
    assert good.status == "succeeded" and inventory.state.alerts() == []
    assert {inventory.listing(listing_id).sync_status for listing_id in ("L-1", "L-2")} == {"pending"}
    assert all(response == {"batchItemFailures": []} for response in inventory.cycle())
    assert sorted(inventory.backmarket.updates) == [("L-1", 3, None), ("L-2", 4, None)]
    assert {inventory.listing(listing_id).sync_status for listing_id in ("L-1", "L-2")} == {"in_sync"}
    # A good run with no alert raised resends nothing.
    run_flow(
        "order_import",
        inventory.state,
        inventory.clock,
        lambda run: None,
        services=("backmarket",),
        listings=inventory.listings,
    )
    assert inventory.cycle() == []


def test_a_stock_write_that_does_not_change_the_calculated_quantity_is_ignored(inventory: Inventory) -> None:
    connected_listing(inventory, units=3, bm_quantity=3)
    inventory.cycle()
    item = inventory.stock.get("1")
    assert item is not None
    inventory.stock.put(StockItem(**{**item.model_dump(), "available": 9, "outstanding": 6}))
    inventory.backmarket.listings["L-1"].quantity = 77
    records = inventory.pending_records()
    assert len(records) == 1
    inventory.deliver(records)
    assert inventory.backmarket.updates == []


def test_the_drift_check_never_raises_back_a_sale_wholecell_does_not_have_yet(inventory: Inventory) -> None:
    connected_listing(inventory, units=5, bm_quantity=5)
    inventory.cycle()
    inventory.backmarket.listings["L-1"].quantity = 4  # a buyer ordered; the order is not in WholeCell yet
    run = inventory.drift_check()
    assert run.counts["pushed"] == 0 and inventory.backmarket.updates == []
    listing = inventory.listing("L-1")
    assert listing.bm_quantity == 4 and "a sale WholeCell does not have yet" in listing.reason
    # The order reaches WholeCell: the mirror drops to 4 and the listing is in sync again.
    inventory.order((1, 1), channel="Backmarket", external_id="900001")
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.listings["L-1"].quantity == 4
    assert inventory.drift_check().counts["drifted"] == 0


def test_switching_quantity_sync_on_or_changing_the_buffer_resyncs_within_a_minute(
    inventory: Inventory,
) -> None:
    inventory.configure(quantity_sync_enabled=False)
    connected_listing(inventory, units=4, bm_quantity=1)
    inventory.cycle()
    assert inventory.backmarket.updates == []

    inventory.configure(quantity_sync_enabled=True)
    inventory.later(1)
    run = inventory.watch()  # nothing changed in WholeCell, but the quantity settings did
    assert run.counts["listings_marked_for_settings"] == 1
    inventory.cycle()
    assert inventory.backmarket.updates == [("L-1", 4, None)]

    inventory.configure(safety_buffer=1)
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.updates[-1] == ("L-1", 3, None)
    inventory.later(1)
    assert inventory.watch().counts["listings_marked_for_settings"] == 0  # announced once


def test_a_concurrent_invocation_that_claimed_the_listing_first_is_not_doubled(
    inventory: Inventory, monkeypatch
) -> None:
    connected_listing(inventory, units=3, bm_quantity=1)
    records = inventory.pending_records()
    update_fields = inventory.listings.update_fields
    raced: list[str] = []

    def racing(listing_id: str, fields: dict, *, writer: str, expected_sync_seq: int | None = None) -> bool:
        if expected_sync_seq is not None and not raced:
            # The listings stream's invocation claims and pushes between our read and our claim.
            raced.append(listing_id)
            update_fields(
                listing_id,
                {"sync_seq": expected_sync_seq + 1, "last_synced": 3, "sync_status": "in_sync"},
                writer="quantity_sync",
            )
            inventory.backmarket.update_listing(listing_id, quantity=3)
        return update_fields(listing_id, fields, writer=writer, expected_sync_seq=expected_sync_seq)

    monkeypatch.setattr(inventory.listings, "update_fields", racing)
    [response] = inventory.deliver(records)
    assert raced == ["L-1"] and response == {"batchItemFailures": []}
    assert inventory.backmarket.updates == [("L-1", 3, None)]
    assert inventory.listing("L-1").sync_status == "in_sync"


def test_switching_to_specific_variations_waits_for_a_choice_then_follows_it(inventory: Inventory) -> None:
    connected_listing(inventory, units=3, bm_quantity=1)  # Match via SKU
    inventory.cycle()
    assert inventory.backmarket.updates == [("L-1", 3, None)]

    inventory.configure(product_variations=ProductVariationMode.CHOOSE_SPECIFIC)
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert inventory.listing("L-1").sync_status == "product_not_set"

    inventory.listings.set_chosen_variations("L-1", ["1"], writer="admin")
    inventory.cycle()
    assert inventory.listing("L-1").sync_status == "in_sync" and len(inventory.backmarket.updates) == 1
    inventory.receive(inventory.wholecell.variations[0], 2)
    inventory.later(1)
    inventory.watch()
    inventory.cycle()
    assert inventory.backmarket.updates[-1] == ("L-1", 5, None)


def portal_edited_listings(inventory: Inventory, count: int) -> None:
    """``count`` listings in sync at 2, then raised to 50 in the Back Market portal: all drifted."""
    for number in range(1, count + 1):
        inventory.receive(inventory.variation(number, f"SKU-{number}"), 2)
        inventory.backmarket.add(f"L-{number}", f"SKU-{number}", 2)
    inventory.import_listings()
    inventory.watch()
    inventory.cycle()
    for listing in inventory.backmarket.listings.values():
        listing.quantity = 50


def test_a_drift_check_near_its_timeout_leaves_the_rest_for_the_next(inventory: Inventory) -> None:
    portal_edited_listings(inventory, 6)
    # Each push takes 10 s of a run with 60 s left: pushing stops 15 s before the timeout.
    run = inventory.drift_check(time_left=lambda: 60 - 10 * len(inventory.backmarket.updates))
    assert run.status == "succeeded" and run.counts["pushed"] == 5 and run.counts["out_of_time"] == 1
    [left] = [listing for listing in inventory.listings.all() if listing.sync_status == "deferred"]
    assert left.reason == (
        "not pushed: the drift check ran out of time before it; the next drift check sends it"
    )
    assert inventory.backmarket.listings[left.listing_id].quantity == 50
    run = inventory.drift_check()
    assert run.counts["pushed"] == 1 and inventory.backmarket.listings[left.listing_id].quantity == 2


def test_a_drift_check_reads_the_stock_once_not_per_listing(inventory: Inventory, monkeypatch) -> None:
    portal_edited_listings(inventory, 4)

    def per_listing_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("a stock read per listing")

    monkeypatch.setattr(inventory.stock, "get", per_listing_read)
    monkeypatch.setattr(inventory.stock, "by_sku", per_listing_read)
    run = inventory.drift_check()
    assert run.status == "succeeded" and run.counts["pushed"] == 4
    assert all(listing.quantity == 2 for listing in inventory.backmarket.listings.values())
