"""A harness around one connection's order flows, with in-memory clients and moto tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from bmsync.clock import ManualClock
from bmsync.settings import Settings
from bmsync.store.orders_repo import OrderRecord, OrdersRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync import shipment_export
from bmsync.sync.flow import run_flow
from bmsync.sync.order_import import FLOW, import_orders
from bmsync.sync.shipment_export import export_shipment, send_due_retries
from tests.unit.orders.fakes import (
    FakeBackMarket,
    FakeLine,
    FakeListings,
    FakeOrder,
    FakeStock,
    FakeVariation,
    FakeWholeCell,
)

SKU = "IP13-128-M-A"
OTHER_SKU = "GXS22-128-PB-B"


@dataclass
class OrdersHarness:
    clock: ManualClock
    settings: Settings = field(
        default_factory=lambda: Settings(connection_id="uk", order_import_enabled=True)
    )
    backmarket: FakeBackMarket = field(default_factory=FakeBackMarket)
    wholecell: FakeWholeCell = field(
        default_factory=lambda: FakeWholeCell(
            [FakeVariation(11, SKU), FakeVariation(12, SKU.lower()), FakeVariation(21, OTHER_SKU)]
        )
    )
    stock: FakeStock = field(default_factory=lambda: FakeStock({"11": 3, "12": 1, "21": 0}))
    listings: FakeListings = field(default_factory=FakeListings)
    orders: OrdersRepository = field(default_factory=OrdersRepository)

    def __post_init__(self) -> None:
        self.wholecell.clock = self.clock

    @property
    def state(self) -> SyncStateRepository:
        return SyncStateRepository(self.settings.connection_id, self.clock)

    def order(self, order_id: int, state: int = 1, *lines: FakeLine, minutes_ago: float = 0) -> FakeOrder:
        modified = self.clock.now() - timedelta(minutes=minutes_ago)
        return self.backmarket.add(
            FakeOrder(
                order_id,
                state,
                list(lines) or [FakeLine(order_id * 10, {1: 1, 3: 2, 9: 3}.get(state, 1), SKU)],
                date_creation=modified,
                date_modification=modified,
            )
        )

    def touch(self, order_id: int) -> None:
        """Back Market changed the order: it shows up in the next incremental read."""
        self.backmarket.orders[order_id].date_modification = self.clock.now()

    def run(self, *, catch_up: bool = False, time_budget: timedelta = timedelta(seconds=90)) -> RunRecord:
        def body(run: RunRecord) -> None:
            import_orders(
                settings=self.settings,
                backmarket=self.backmarket,
                wholecell=self.wholecell,
                orders=self.orders,
                stock=self.stock,
                listings=self.listings,
                state=self.state,
                clock=self.clock,
                run=run,
                catch_up=catch_up,
                time_budget=time_budget,
            )

        return run_flow(FLOW, self.state, self.clock, body, services=("backmarket", "wholecell"))

    def export(self, order_id: int) -> str:
        return export_shipment(
            str(order_id),
            settings=self.settings,
            backmarket=self.backmarket,
            orders=self.orders,
            state=self.state,
            clock=self.clock,
        )

    def send_due_retries(self) -> RunRecord:
        """shipment_export's scheduled run: the exports whose retry time has come."""

        def body(run: RunRecord) -> None:
            send_due_retries(
                settings=self.settings,
                backmarket=self.backmarket,
                orders=self.orders,
                state=self.state,
                clock=self.clock,
                run=run,
            )

        return run_flow(shipment_export.FLOW, self.state, self.clock, body, services=("backmarket",))

    def record(self, order_id: int) -> OrderRecord:
        stored = self.orders.get("uk", order_id)
        assert stored is not None
        return stored


@pytest.fixture
def harness(aws: None, clock: ManualClock) -> OrdersHarness:
    return OrdersHarness(clock)
