"""The orders table: optimistic locking between its three writers, and the import claim."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bmsync.store.orders_repo import ConcurrentUpdate, OrderRecord, OrdersRepository


def test_a_concurrent_write_is_reapplied_on_fresh_state_not_lost(aws: None, clock) -> None:
    repo = OrdersRepository()
    repo.update("uk", 1, lambda r: True, writer="order_import", now=clock.now(), create=True)
    calls = 0

    def note(record: OrderRecord) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            # Another function writes in between our read and our write.
            def other(rec: OrderRecord) -> bool:
                rec.status_note = "by watch"
                return True

            repo.update("uk", 1, other, writer="wholecell_watch", now=clock.now())
        record.export_reason = "by export"
        return True

    stored = repo.update("uk", 1, note, writer="shipment_export", now=clock.now())
    assert calls == 2
    assert stored.status_note == "by watch" and stored.export_reason == "by export"
    assert repo.get("uk", 1).last_writer == "shipment_export"


def test_a_change_that_changes_nothing_writes_nothing(aws: None, clock) -> None:
    repo = OrdersRepository()
    first = repo.update("uk", 2, lambda r: True, writer="order_import", now=clock.now(), create=True)
    again = repo.update("uk", 2, lambda r: False, writer="order_import", now=clock.now())
    assert again.revision == first.revision == 1
    assert repo.update("uk", 3, lambda r: True, writer="order_import", now=clock.now()) is None


def test_an_item_that_never_settles_is_reported(aws: None, clock) -> None:
    repo = OrdersRepository()
    repo.update("uk", 4, lambda r: True, writer="order_import", now=clock.now(), create=True)

    def always_raced(record: OrderRecord) -> bool:
        repo.update("uk", 4, lambda r: True, writer="wholecell_watch", now=clock.now())
        return True

    with pytest.raises(ConcurrentUpdate):
        repo.update("uk", 4, always_raced, writer="order_import", now=clock.now())


def test_the_import_claim_is_exclusive_until_its_lease_runs_out(aws: None, clock) -> None:
    repo = OrdersRepository()
    lease = timedelta(minutes=5)
    claimed = repo.claim_import("uk", 9, owner="a", now=clock.now(), lease_until=clock.now() + lease)
    assert claimed is not None and claimed.import_state == "creating" and not claimed.import_interrupted

    assert repo.claim_import("uk", 9, owner="b", now=clock.now(), lease_until=clock.now() + lease) is None

    clock.advance(lease.total_seconds() + 1)  # "a" crashed: its claim expires
    third = repo.claim_import("uk", 9, owner="b", now=clock.now(), lease_until=clock.now() + lease)
    assert third is not None and third.claim_owner == "b"
    assert third.import_interrupted  # so "b" looks for a's order before creating one

    def imported(record: OrderRecord) -> bool:
        record.import_state = "imported"
        return True

    repo.update("uk", 9, imported, writer="order_import", now=clock.now())
    clock.advance(3600)
    assert repo.claim_import("uk", 9, owner="c", now=clock.now(), lease_until=clock.now() + lease) is None


def test_orders_are_listed_by_export_state(aws: None, clock) -> None:
    repo = OrdersRepository()

    def held(record: OrderRecord) -> bool:
        record.export_state = "held_not_validated"
        return True

    repo.update("uk", 10, held, writer="shipment_export", now=clock.now(), create=True)
    repo.update("uk", 11, lambda r: True, writer="order_import", now=clock.now(), create=True)
    repo.update("fr", 12, held, writer="shipment_export", now=clock.now(), create=True)
    assert [r.order_id for r in repo.list_by_export_state("uk", "held_not_validated")] == ["10"]
    assert sorted(r.order_id for r in repo.list("uk")) == ["10", "11"]


def test_an_order_lowers_the_stock_mirror_at_once(aws: None, clock) -> None:
    from bmsync.store.stock_repo import StockItem, StockRepository

    stock = StockRepository("uk")
    stock.put(StockItem(connection_id="uk", variation_id="11", sku="A", available=3, calculated=3, as_of="x"))

    assert stock.reserve_for_order("11", 2, as_of="2026-01-05T09:00:00Z")
    item = stock.get("11")
    assert (item.available, item.outstanding, item.calculated) == (3, 2, 1)
    assert item.last_writer == "order_import"  # quantity_sync reacts to it
    assert not stock.reserve_for_order("99", 1, as_of="2026-01-05T09:00:00Z")
    assert stock.get("99") is None
