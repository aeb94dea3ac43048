"""A seller maps a status hours after orders came in unmapped: they come in at the next run.

Nothing changes on Back Market meanwhile, so the incremental read (cursor minus the overlap) never
sees those orders again: only the settings change can bring them in.
"""

from __future__ import annotations

from pathlib import Path

from bmsync.settings import DEFAULT_ORDER_STATUS_MAP, BackMarketOrderStatus
from bmsync.store.orders_repo import OrdersRepository
from bmsync.sync import doctor
from bmsync_sandbox.demo_catalogue import UNKNOWN_SKU
from tests.e2e.orders_sandbox import orders_system

HOUR = 3600


def test_orders_waiting_on_an_unmapped_status_come_in_the_minute_after_the_mapping(tmp_path: Path) -> None:
    without_paid = {
        status: title
        for status, title in DEFAULT_ORDER_STATUS_MAP.items()
        if status is not BackMarketOrderStatus.PAID
    }
    with orders_system(tmp_path, order_status_map=without_paid) as system:
        system.import_orders()  # the first import: the demo's paid orders wait, accepted ones come in
        sku = next(
            listing["sku"]
            for listing in system.backmarket.listings()
            if listing["quantity"] >= 3 and listing["sku"] != UNKNOWN_SKU
        )
        bought = system.backmarket.create_buyer_order(sku)
        system.import_orders()
        paid_ids = {order["order_id"] for order in system.backmarket.orders() if order["state"] == 1}
        assert bought["order_id"] in paid_ids and len(paid_ids) > 1
        for order_id in paid_ids:
            assert system.record(order_id).import_state == "not_imported"

        # Hours of runs (far beyond the 10-minute overlap); nothing changes on Back Market.
        for _ in range(3):
            system.clock.advance(2 * HOUR)
            system.import_orders()
        assert system.backmarket_calls("GET", f"/ws/orders/{bought['order_id']}") == []
        assert not {str(order_id) for order_id in paid_ids} & {
            order["external_id"] for order in system.wholecell.orders(channel="Backmarket")
        }

        # The seller maps `paid`; the doctor says what happens next instead of asking for the mapping.
        system.configure(order_status_map=dict(DEFAULT_ORDER_STATUS_MAP))
        diagnosis = doctor.diagnose_order(system.settings, str(bought["order_id"]), orders=OrdersRepository())
        mapped = next(f for f in diagnosis.findings if f.question == "Is the order status mapped?")
        assert mapped.ok and "will be imported at the next order import run" in mapped.answer
        in_wholecell = next(f for f in diagnosis.findings if f.question == "Is the order in WholeCell?")
        assert in_wholecell.action == "Nothing to do: it comes in at the next order import run."

        run = system.import_orders()  # one minute later

        assert run.status == "succeeded" and run.counts["imported"] == len(paid_ids)
        created = {order["external_id"]: order for order in system.wholecell.orders(channel="Backmarket")}
        for order_id in paid_ids:
            assert created[str(order_id)]["status"] == "Pending"
            assert system.record(order_id).import_state == "imported"
        assert len(system.backmarket_calls("GET", f"/ws/orders/{bought['order_id']}")) == 1
        assert OrdersRepository().list_not_imported(system.settings.connection_id) == []

        # Once: later runs neither read them by id again nor create anything twice.
        run = system.import_orders()
        assert "imported" not in run.counts
        assert len(system.backmarket_calls("GET", f"/ws/orders/{bought['order_id']}")) == 1
        external_ids = [order["external_id"] for order in system.wholecell.orders(channel="Backmarket")]
        assert len(external_ids) == len(set(external_ids))
        diagnosis = doctor.diagnose_order(system.settings, str(bought["order_id"]), orders=OrdersRepository())
        assert diagnosis.healthy, diagnosis.findings
