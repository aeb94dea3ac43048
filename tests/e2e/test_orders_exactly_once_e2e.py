"""Exactly one WholeCell order per Back Market order: two imports at once, crashing between the
WholeCell write and the DynamoDB write, against the real clients, emulators and tables."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bmsync import backmarket, wholecell
from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.orders_repo import OrdersRepository
from bmsync.store.stock_repo import StockRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync.order_import import import_orders
from tests.e2e.orders_sandbox import CONNECTION, atomic_dynamodb_writes, orders_system
from tests.e2e.test_orders_import_e2e import _a_listed_sku


class Crash(Exception):
    """The Lambda dies (timeout, out of memory) right after WholeCell created the order."""


class CrashingWholeCell:
    """The real WholeCell client, dying right after each of the first ``crashes`` creates."""

    def __init__(self, client: Any, crashes: list[int]) -> None:
        self._client = client
        self._crashes = crashes
        self._lock = threading.Lock()

    def create_sales_order(self, order: Any) -> Any:
        created = self._client.create_sales_order(order)
        with self._lock:
            crash = self._crashes and self._crashes.pop()
        if crash:
            raise Crash(f"died after creating {order.external_id}")
        return created

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_two_imports_at_once_with_crashes_make_exactly_one_wholecell_order_each(tmp_path: Path) -> None:
    with atomic_dynamodb_writes(), orders_system(tmp_path) as system:
        sku = _a_listed_sku(system)
        system.backmarket.set_listing_quantity(sku, 10)
        for _ in range(4):
            system.backmarket.create_buyer_order(sku)
        wanted = {str(o["order_id"]) for o in system.backmarket.orders() if o["state"] in (1, 3)}
        crashes = [1] * 4
        crashed: list[str] = []
        runs: list[RunRecord] = []

        def one_import(barrier: threading.Barrier) -> None:
            settings = system.settings
            run = RunRecord(flow="order_import", started_at="-")
            barrier.wait()
            try:
                # The body of the flow, without its lock: as if two invocations overlapped anyway.
                import_orders(
                    settings=settings,
                    backmarket=backmarket.client_for(settings, system.clock),
                    wholecell=CrashingWholeCell(wholecell.client_for(settings, system.clock), crashes),
                    orders=OrdersRepository(),
                    stock=StockRepository(CONNECTION),
                    listings=ListingsRepository(CONNECTION),
                    state=SyncStateRepository(CONNECTION, system.clock),
                    clock=system.clock,
                    run=run,
                )
            except Crash as crash:
                crashed.append(str(crash))
            runs.append(run)

        for _ in range(4):
            barrier = threading.Barrier(2)
            threads = [threading.Thread(target=one_import, args=(barrier,)) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            system.clock.advance(6 * 60)  # past the claim of any crashed run

        assert len(crashed) == 4  # every injected crash happened
        orders = system.wholecell.orders(channel="Backmarket")
        external_ids = sorted(order["external_id"] for order in orders)
        assert external_ids == sorted(wanted)  # exactly one each: none missing, none twice
        by_external_id = {order["external_id"]: order["id"] for order in orders}
        for order_id in wanted:
            record = system.record(int(order_id))
            assert record.import_state == "imported"
            assert record.wholecell_order_id == by_external_id[order_id]
        assert sum(run.counts.get("recovered", 0) for run in runs) == 4  # found by lookup, not re-created
