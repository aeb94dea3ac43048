"""order_import after the import: status following, hand changes, automatic validation, exactly-once."""

from __future__ import annotations

import threading

import pytest

from bmsync.settings import AutoValidation
from tests.e2e.orders_sandbox import atomic_dynamodb_writes
from tests.unit.orders.conftest import SKU, OrdersHarness
from tests.unit.orders.fakes import FakeLine


def _wholecell_status(harness: OrdersHarness, order_id: int) -> str:
    return harness.wholecell.orders[harness.record(order_id).wholecell_order_id].status


def test_wholecell_status_follows_accept_ship_and_cancel(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    harness.order(1002, 1)
    harness.run()
    assert _wholecell_status(harness, 1001) == "Pending"

    harness.backmarket.accept_orderline(1001, SKU)
    harness.backmarket.cancel_orderline(1002, SKU)
    harness.touch(1001)
    harness.touch(1002)
    harness.run()
    assert _wholecell_status(harness, 1001) == "Processing"
    assert _wholecell_status(harness, 1002) == "Cancelled"

    harness.backmarket.ship_order(1001, tracking_number="RM1")
    harness.touch(1001)
    run = harness.run()
    assert _wholecell_status(harness, 1001) == "Shipped" and run.counts["status_updated"] == 1
    record = harness.record(1001)
    assert record.bm_status == "shipped" and record.wholecell_status == "Shipped"
    assert "WholeCell status set to 'Shipped'" in record.history[-1].event

    # Nothing changed on Back Market: re-reading writes nothing and calls WholeCell for nothing.
    updates = len(harness.wholecell.status_updates)
    harness.touch(1001)
    harness.run()
    assert (
        len(harness.wholecell.status_updates) == updates and harness.record(1001).revision == record.revision
    )


def test_a_hand_change_in_wholecell_is_not_pushed_back_and_is_explained(harness: OrdersHarness) -> None:
    harness.order(1001, 3)
    harness.run()
    sales_order = harness.wholecell.orders[harness.record(1001).wholecell_order_id]
    sales_order.status = "Shipped"  # someone in WholeCell
    harness.orders.record_wholecell_shipment(
        "uk",
        1001,
        None,
        wholecell_order_id=sales_order.id,
        wholecell_status="Shipped",
        status_note="WholeCell status changed by hand to 'Shipped'",
        now=harness.clock.now(),
    )
    calls_before = list(harness.backmarket.calls)
    harness.touch(1001)
    harness.run()
    # Back Market did not change: WholeCell keeps the hand-set status, Back Market is not written to.
    assert sales_order.status == "Shipped"
    assert [c for c in harness.backmarket.calls[len(calls_before) :] if c[0] != "iter_orders"] == []

    harness.backmarket.cancel_orderline(1001, SKU)
    harness.touch(1001)
    harness.run()
    assert sales_order.status == "Cancelled"
    record = harness.record(1001)
    assert record.status_note.startswith(
        "WholeCell status 'Shipped' (set by hand) replaced by 'Cancelled': Back Market state 9 (cancelled) "
        "maps to 'Cancelled'"
    )


def test_automatic_validation_off_leaves_lines_for_a_person(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    harness.run()
    assert harness.backmarket.sent("accept") == [] and harness.record(1001).validations == []


def test_automatic_validation_always_accepts_once_and_status_follows(harness: OrdersHarness) -> None:
    harness.settings = harness.settings.model_copy(update={"auto_validation": AutoValidation.ALWAYS})
    harness.order(1001, 1)

    run = harness.run()

    assert harness.backmarket.sent("accept") == [(1001, SKU)] and run.counts["validated"] == 1
    record = harness.record(1001)
    [validation] = record.validations
    assert validation.action == "accepted" and "automatic validation: always" in validation.reason
    assert record.bm_state == 3 and _wholecell_status(harness, 1001) == "Processing"
    harness.touch(1001)
    harness.run()
    assert len(harness.backmarket.sent("accept")) == 1


def test_validation_when_stock_covers(harness: OrdersHarness) -> None:
    harness.settings = harness.settings.model_copy(
        update={"auto_validation": AutoValidation.WHEN_STOCK_COVERS}
    )
    harness.stock.levels.update({"11": 1, "12": 0, "21": 0})
    harness.order(1001, 1, FakeLine(10011, 1, SKU))
    harness.order(1002, 1, FakeLine(10021, 1, "GXS22-128-PB-B"))

    harness.run()

    assert harness.backmarket.sent("accept") == [(1001, SKU)]
    [covered] = harness.record(1001).validations
    assert "calculated quantity (1) covers 1 x IP13-128-M-A" in covered.reason
    [waiting] = harness.record(1002).validations
    assert waiting.action == "waiting"
    assert waiting.reason.startswith("waiting for a person to validate it on Back Market")
    # Still waiting on the next read: recorded once, not repeated.
    harness.touch(1002)
    harness.run()
    assert len(harness.record(1002).validations) == 1


def test_uncovered_lines_are_cancelled_only_if_the_seller_chose_that(harness: OrdersHarness) -> None:
    harness.settings = harness.settings.model_copy(
        update={"auto_validation": AutoValidation.WHEN_STOCK_COVERS, "cancel_uncovered_lines": True}
    )
    harness.order(1002, 1, FakeLine(10021, 1, "GXS22-128-PB-B"))
    harness.run()
    assert harness.backmarket.sent("cancel") == [(1002, "GXS22-128-PB-B")]
    [validation] = harness.record(1002).validations
    assert validation.action == "cancelled" and "the settings cancel uncovered lines" in validation.reason
    assert _wholecell_status(harness, 1002) == "Cancelled"


class Crash(Exception):
    """The process dies between WholeCell's write and DynamoDB's (a Lambda timeout, an OOM)."""


def test_a_crash_after_creating_is_recovered_by_lookup_not_a_second_order(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    harness.wholecell.crash_after_create.append(Crash())

    with pytest.raises(Crash):
        harness.run()
    assert len(harness.wholecell.orders) == 1 and harness.record(1001).import_state == "creating"

    harness.clock.advance(60)
    run = harness.run()  # the claim's lease still runs: nothing is done and the cursor stays
    assert run.counts.get("busy_elsewhere") == 1 and len(harness.wholecell.created) == 1

    # The crashed run cannot outlive its function's timeout: its claim lasts as long as a run's
    # lock (120 s + 15 s), not five minutes, and the next run takes over.
    harness.clock.advance(76)
    run = harness.run()
    assert run.counts["recovered"] == 1 and "imported" not in run.counts
    assert len(harness.wholecell.created) == 1
    record = harness.record(1001)
    assert record.import_state == "imported" and record.wholecell_order_id == next(
        iter(harness.wholecell.orders)
    )


def test_two_imports_at_once_with_crashes_create_exactly_one_order_each(harness: OrdersHarness) -> None:
    for order_id in range(2001, 2011):
        harness.order(order_id, 1)
    harness.wholecell.crash_after_create.extend(Crash() for _ in range(3))
    barrier = threading.Barrier(2)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def one_import() -> None:
        from bmsync.store.sync_state import RunRecord
        from bmsync.sync.order_import import import_orders

        barrier.wait()
        try:
            # Straight into the body: two runs overlapping as if the flow lock had expired.
            import_orders(
                settings=harness.settings,
                backmarket=harness.backmarket,
                wholecell=LockedWholeCell(harness.wholecell, lock),
                orders=harness.orders,
                stock=harness.stock,
                listings=harness.listings,
                state=harness.state,
                clock=harness.clock,
                run=RunRecord(flow="order_import", started_at="now"),
            )
        except Exception as error:  # a Crash is expected; anything else fails the test below
            errors.append(error)

    with atomic_dynamodb_writes():
        for _ in range(3):
            threads = [threading.Thread(target=one_import) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            harness.clock.advance(600)  # past any claim left by a crash

    external_ids = sorted(order.external_id for order in harness.wholecell.orders.values())
    assert external_ids == [str(order_id) for order_id in range(2001, 2011)]
    assert errors and all(isinstance(error, Crash) for error in errors), errors
    assert all(harness.record(order_id).import_state == "imported" for order_id in range(2001, 2011))


class LockedWholeCell:
    """The fake WholeCell shared by two threads (the real one is a server: its writes are atomic)."""

    def __init__(self, inner, lock: threading.Lock) -> None:
        self._inner = inner
        self._lock = lock

    def __getattr__(self, name: str):
        method = getattr(self._inner, name)

        def locked(*args, **kwargs):
            with self._lock:
                return method(*args, **kwargs)

        return locked
