"""wholecell_watch: the stock mirror follows WholeCell, writing only what changed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bmsync.sync import wholecell_watch
from tests.unit.inventory.conftest import Inventory
from tests.unit.inventory.fakes import Committed, Item, Ref


def calculated(inventory: Inventory) -> dict[str, tuple[int, int, int]]:
    return {
        variation_id: (item.available, item.outstanding, item.calculated)
        for variation_id, item in inventory.stock.all().items()
    }


def test_first_run_reconciles_available_outstanding_and_calculated(inventory: Inventory) -> None:
    grade_a = inventory.variation(1, "IP13-128-M-A")
    grade_b = inventory.variation(2, "IP13-128-M-B")
    inventory.variation(3, "GXS22-128-PB-B")  # no stock: still mirrored, at 0
    inventory.receive(grade_a, 3)
    inventory.receive(grade_a, 2, status="Grading")  # not an available status
    inventory.receive(grade_b, 1, warehouse=Ref("Returns Warehouse", 2))
    committed = inventory.receive(grade_b, 1)[0]
    inventory.change_unit(committed, order_id=77)  # committed to an order: not available
    inventory.order((1, 2))  # open order: 2 of variation 1 still wanted
    inventory.order((1, 5), status="Shipped")  # not open: wants nothing

    run = inventory.watch()

    assert run.status == "succeeded" and run.counts["full_reconciliation"] == 1
    assert calculated(inventory) == {"1": (3, 2, 1), "2": (1, 0, 1), "3": (0, 0, 0)}
    assert inventory.stock.get("1") is not None and inventory.stock.get("1").sku == "IP13-128-M-A"  # type: ignore[union-attr]
    assert [item.variation_id for item in inventory.stock.by_sku("ip13-128-m-a")] == ["1"]


def test_statuses_and_warehouses_from_the_settings_decide_what_is_available(inventory: Inventory) -> None:
    variation = inventory.variation(1, "SKU-1")
    inventory.receive(variation, 2)
    inventory.receive(variation, 1, status="Inbound")
    inventory.receive(variation, 4, warehouse=Ref("Returns Warehouse", 2))
    inventory.configure(available_statuses=["Available", "Inbound"], available_warehouses=["Main Warehouse"])
    inventory.watch()
    assert calculated(inventory)["1"] == (3, 0, 3)

    # A change of the settings rebuilds the mirror at once (not at the next periodic reconciliation).
    inventory.configure(available_statuses=["Available"], available_warehouses=[])
    inventory.later(1)
    run = inventory.watch()
    assert run.counts["full_reconciliation"] == 1
    assert calculated(inventory)["1"] == (6, 0, 6)


def test_incremental_runs_apply_received_committed_and_sold_units(inventory: Inventory) -> None:
    variation = inventory.variation(1, "SKU-1")
    inventory.receive(variation, 2)
    inventory.watch()
    inventory.later(1)

    [unit] = inventory.receive(variation, 1)
    run = inventory.watch()
    assert run.counts["full_reconciliation"] == 0 and run.counts["variations_changed"] == 1
    assert calculated(inventory)["1"] == (3, 0, 3)

    # A WholeCell order on another channel lowers the calculated quantity at once.
    order = inventory.order((1, 1), channel="eBay")
    inventory.later(1)
    inventory.watch()
    assert calculated(inventory)["1"] == (3, 1, 2)

    # Committing the unit to that order changes available and outstanding, not calculated: the
    # memory moves, the stock item (and so quantity_sync) is left alone.
    as_of = inventory.stock.get("1").as_of  # type: ignore[union-attr]
    inventory.change_unit(unit, order_id=order.id)
    inventory.touch(order, inventories=[Committed(1)])
    inventory.later(1)
    run = inventory.watch()
    assert run.counts["variations_changed"] == 0
    assert inventory.stock.get("1").as_of == as_of  # type: ignore[union-attr]
    assert inventory.stock.load_mirror()["1"].available == 2

    # Shipping the order closes it: still nothing changes for the listing.
    inventory.touch(order, status="Shipped")
    inventory.later(1)
    assert inventory.watch().counts["variations_changed"] == 0
    assert calculated(inventory)["1"] == (3, 1, 2)  # the item keeps the counts of its last change
    assert inventory.stock.load_mirror()["1"].calculated == 2


def test_incremental_reads_use_the_cursor_and_do_not_reread_everything(inventory: Inventory) -> None:
    variation = inventory.variation(1, "SKU-1")
    inventory.receive(variation, 2)
    inventory.watch()
    inventory.later(1)
    inventory.wholecell.calls.clear()
    inventory.watch()
    reads = [call for call in inventory.wholecell.calls if call[0] == "inventories"]
    assert len(reads) == 1 and reads[0][1]["updated_at_gt"] is not None
    assert not [call for call in inventory.wholecell.calls if call[0] == "product_variations"]


def test_a_unit_moving_to_another_variation_leaves_the_old_one(inventory: Inventory) -> None:
    first, second = inventory.variation(1, "SKU-1"), inventory.variation(2, "SKU-2")
    [unit] = inventory.receive(first, 1)
    inventory.watch()
    inventory.later(1)
    inventory.change_unit(unit, variation=second)
    inventory.watch()
    assert calculated(inventory) == {"1": (0, 0, 0), "2": (1, 0, 1)}


def test_order_items_with_a_sku_only_count_once_and_unknown_skus_count_nowhere(inventory: Inventory) -> None:
    inventory.variation(1, "SHARED")
    inventory.variation(2, "SHARED")
    inventory.watch()
    inventory.later(1)
    order = inventory.order((None, 1))
    order.order_items.append(Item(None, 3, sku="NOT-IN-WHOLECELL"))
    order.order_items[0].sku = "shared"
    inventory.watch()
    assert calculated(inventory) == {"1": (0, 1, -1), "2": (0, 0, 0)}


def test_open_orders_older_than_90_days_are_not_outstanding(inventory: Inventory) -> None:
    variation = inventory.variation(1, "SKU-1")
    inventory.receive(variation, 5)
    inventory.order((1, 2))
    inventory.clock.advance(timedelta(days=91).total_seconds())
    inventory.watch()
    assert calculated(inventory)["1"] == (5, 0, 5)


def test_periodic_reconciliation_heals_what_an_incremental_read_missed(inventory: Inventory) -> None:
    variation = inventory.variation(1, "SKU-1")
    [unit] = inventory.receive(variation, 1)
    inventory.watch()
    # A change WholeCell reports with an old updated_at (outside the cursor's overlap) is missed...
    unit.status = "Sold"
    unit.updated_at -= timedelta(minutes=5)
    inventory.later(2)
    assert inventory.watch().counts["full_reconciliation"] == 0
    assert calculated(inventory)["1"] == (1, 0, 1)
    # ...until the periodic full reconciliation.
    inventory.later(inventory.settings.wholecell_reconcile_minutes)
    run = inventory.watch()
    assert run.counts["full_reconciliation"] == 1 and calculated(inventory)["1"] == (0, 0, 0)


def test_the_cursor_only_moves_after_the_writes_succeed(inventory: Inventory, monkeypatch) -> None:
    variation = inventory.variation(1, "SKU-1")
    inventory.watch()
    cursor = inventory.state.get_document("wholecell_watch")
    inventory.later(2)
    inventory.receive(variation, 2)

    def broken(item: object) -> None:
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(inventory.stock, "put", broken)
    with pytest.raises(RuntimeError):
        inventory.watch()
    assert inventory.state.get_document("wholecell_watch") == cursor
    monkeypatch.undo()
    inventory.watch()
    assert calculated(inventory)["1"] == (2, 0, 2)


def test_changed_sales_orders_go_to_shipment_capture(inventory: Inventory) -> None:
    inventory.variation(1, "SKU-1")
    inventory.watch()
    inventory.later(1)
    shipped = inventory.order((1, 1), channel="Backmarket", external_id="123456")
    inventory.touch(shipped, shipments=[{"tracking_number": "1Z"}])
    run = inventory.watch()
    assert run.counts["shipments_captured"] == 1
    assert [order.id for order in inventory.shipment_batches[-1]] == [shipped.id]


def test_rereading_the_cursor_overlap_writes_nothing(inventory: Inventory, monkeypatch) -> None:
    variation = inventory.variation(1, "SKU-1")
    inventory.watch()
    inventory.later(1)
    inventory.receive(variation, 2)
    inventory.order((1, 1))
    inventory.watch()
    inventory.later(0.5)  # the same units and order are inside the next read's overlap
    inventory.stock_stream.read()
    saved: list[object] = []
    monkeypatch.setattr(inventory.stock, "save_mirror_entry", saved.append)
    loads = []
    load_mirror = inventory.stock.load_mirror
    monkeypatch.setattr(inventory.stock, "load_mirror", lambda: loads.append(1) or load_mirror())
    captured_before = len(inventory.shipment_batches)
    run = inventory.watch()
    assert run.counts["units_read"] == 2 and run.counts["sales_orders_read"] == 1
    assert run.counts["units_changed"] == 0 and run.counts["sales_orders_changed"] == 0
    assert run.counts["variations_changed"] == 0 and saved == []
    assert inventory.stock_stream.read() == []
    # Nothing new: the memory is not even loaded, and the order is not captured a second time.
    assert loads == [] and len(inventory.shipment_batches) == captured_before
    # A unit changed inside the overlap (same cursor window) is a change all the same.
    [unit] = [unit for unit in inventory.wholecell.units.values()][:1]
    inventory.change_unit(unit, status="Sold")
    run = inventory.watch()
    assert run.counts["units_changed"] == 1 and loads == [1]
    assert calculated(inventory)["1"] == (1, 1, 0)


def test_a_bulk_change_in_one_second_keeps_the_cursor_document_small(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Thousands of units stamped in the same second (a bulk edit in WholeCell) once made the cursor
    # document outgrow DynamoDB's 400 KB item limit: every later run failed on its PutItem.
    monkeypatch.setattr(wholecell_watch, "SEEN_IN_OVERLAP_LIMIT", 5)
    variation = inventory.variation(1, "SKU-1")
    inventory.watch()
    inventory.later(1)
    inventory.receive(variation, 12)
    run = inventory.watch()
    assert run.status == "succeeded" and run.counts["units_changed"] == 12
    document = inventory.state.get_document(wholecell_watch.CURSOR_DOCUMENT) or {}
    assert len(document["seen_units"]) == 5
    assert calculated(inventory)["1"] == (12, 0, 12)
    # The units it could not remember are read again in the overlap: applied again, nothing written.
    inventory.later(0.5)
    inventory.stock_stream.read()
    run = inventory.watch()
    assert run.status == "succeeded" and run.counts["variations_changed"] == 0
    assert inventory.stock_stream.read() == [] and calculated(inventory)["1"] == (12, 0, 12)


def unit_reads_since(inventory: Inventory) -> list[object]:
    return [call[1]["updated_at_gt"] for call in inventory.wholecell.calls if call[0] == "inventories"]


def test_a_bulk_stamped_in_one_second_is_not_reread_once_wholecell_s_clock_passed_it(
    inventory: Inventory,
) -> None:
    # 20,000 units stamped in one second (a new account's import, a bulk edit), then quiet: the cursor
    # sat at their stamp and every read's overlap re-read all of them (200 pages, longer than a run).
    variation = inventory.variation(1, "SKU-1")
    inventory.watch()
    inventory.later(1)
    bulk = inventory.receive(variation, 30)
    stamp = bulk[0].updated_at
    assert all(unit.updated_at == stamp for unit in bulk)
    assert inventory.watch().counts["units_changed"] == 30
    inventory.later(1)
    again = inventory.watch()  # the overlap still reaches the bulk: read again, nothing new in it
    assert again.counts["units_read"] == 30 and again.counts["units_changed"] == 0
    for _ in range(3):  # WholeCell's clock is a minute past the bulk: no read reaches it again
        inventory.later(1)
        inventory.wholecell.calls.clear()
        assert inventory.watch().counts["units_read"] == 0
        assert unit_reads_since(inventory)[0] >= stamp  # changes stamped after it, only
    # The cursor moved with WholeCell's clock, not past its changes: the next one is read.
    inventory.change_unit(bulk[0], status="Sold")
    assert inventory.watch().counts["units_changed"] == 1
    assert calculated(inventory)["1"] == (29, 0, 29)


def test_a_wholecell_clock_behind_ours_loses_no_change(inventory: Inventory) -> None:
    variation = inventory.variation(1, "SKU-1")
    behind = timedelta(minutes=10)
    [first] = inventory.receive(variation, 1)
    first.updated_at -= behind
    inventory.watch()  # full: the cursor starts at WholeCell's newest change, not at our clock
    inventory.later(1)
    [second] = inventory.receive(variation, 1)
    second.updated_at -= behind
    inventory.watch()
    assert calculated(inventory)["1"] == (2, 0, 2)


def test_a_reservation_wholecell_charged_elsewhere_is_corrected_after_the_grace(inventory: Inventory) -> None:
    from bmsync.clock import utc_iso

    first, second = inventory.variation(1, "SHARED"), inventory.variation(2, "SHARED")
    inventory.receive(second, 3)
    inventory.watch()
    assert first.id == 1
    # order_import reserves on variation 2 at once; WholeCell books the order's item on variation 1.
    assert inventory.stock.reserve_for_order("2", 1, as_of=utc_iso(inventory.clock.now()))
    inventory.order((1, 1), channel="Backmarket", external_id="900001")
    inventory.later(1)
    inventory.watch()
    assert calculated(inventory)["1"][2] == -1
    assert calculated(inventory)["2"][2] == 2  # the reservation stands while WholeCell may lag
    inventory.later(2)
    inventory.watch()
    assert calculated(inventory)["2"] == (3, 0, 3)  # the mirror is the truth: counted once, on 1


def test_a_reservation_wholecell_confirms_is_checked_once(inventory: Inventory, monkeypatch) -> None:
    from bmsync.clock import utc_iso

    variation = inventory.variation(1, "SKU-1")
    inventory.receive(variation, 3)
    inventory.watch()
    assert inventory.stock.reserve_for_order("1", 1, as_of=utc_iso(inventory.clock.now()))
    inventory.order((1, 1), channel="Backmarket", external_id="900002")
    inventory.later(1)
    inventory.watch()
    inventory.later(3)
    loads = []
    load_mirror = inventory.stock.load_mirror
    monkeypatch.setattr(inventory.stock, "load_mirror", lambda: loads.append(1) or load_mirror())
    inventory.watch()  # past the grace: checked against the memory, which agrees
    assert loads == [1] and calculated(inventory)["1"] == (3, 1, 2)
    inventory.later(1)
    inventory.watch()
    inventory.later(1)
    inventory.watch()
    assert loads == [1]  # idle minutes after the check need no memory
    # A new reservation of the same variation is checked again, once its grace is over.
    assert inventory.stock.reserve_for_order("1", 1, as_of=utc_iso(inventory.clock.now()))
    inventory.later(3)
    inventory.watch()
    assert loads == [1, 1] and calculated(inventory)["1"] == (3, 1, 2)  # WholeCell never saw it
