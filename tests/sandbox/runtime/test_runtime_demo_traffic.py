"""The demo traffic acts through the emulators' control methods, at its pace, and explains itself."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from bmsync.clock import ManualClock
from bmsync_sandbox import demo_catalogue
from bmsync_sandbox.runtime.demo_traffic import DemoTraffic


class FakeBackMarket:
    def __init__(self, quantities: dict[str, int]) -> None:
        self.quantities = quantities
        self.orders: list[str] = []

    def listing(self, sku: str) -> dict[str, Any]:
        return {"sku": sku, "quantity": self.quantities.get(sku, 0)}

    def create_buyer_order(self, sku: str, quantity: int = 1) -> dict[str, Any]:
        self.orders.append(sku)
        self.quantities[sku] -= quantity
        return {"order_id": 1000 + len(self.orders)}


class FakeWholeCell:
    def __init__(self) -> None:
        self.received: list[tuple[str | int, int]] = []
        self.committed: list[tuple[int, int]] = []
        self.shipments: list[tuple[int, str, str]] = []

    def receive_units(self, sku_or_variation_id: str | int, count: int) -> list[dict[str, Any]]:
        self.received.append((sku_or_variation_id, count))
        return [{"id": index} for index in range(count)]

    def commit_unit(self, order_id: int, unit_id: int) -> None:
        self.committed.append((order_id, unit_id))

    def add_shipment(self, order_id: int, carrier: str, tracking_number: str) -> None:
        self.shipments.append((order_id, carrier, tracking_number))


def _traffic(
    backmarket: FakeBackMarket,
    wholecell: FakeWholeCell,
    clock: ManualClock,
    orders: list[tuple[int, list[str]]] | None = None,
    units: dict[str, list[int]] | None = None,
) -> DemoTraffic:
    def orders_to_ship() -> Iterable[tuple[int, list[str]]]:
        return list(orders or [])

    return DemoTraffic(
        backmarket,
        wholecell,
        orders_to_ship=orders_to_ship,
        available_units=lambda sku: list((units or {}).get(sku, [])),
        rng=random.Random(7),
        every=timedelta(seconds=20),
        start=clock.now(),
    )


def test_nothing_happens_before_it_is_due_then_one_thing_per_period() -> None:
    clock = ManualClock()
    sku = demo_catalogue.listing_skus()[0]
    backmarket, wholecell = FakeBackMarket({sku: 5}), FakeWholeCell()
    traffic = _traffic(backmarket, wholecell, clock)
    assert traffic.step(clock.now()) is None
    assert traffic.step(clock.now() + timedelta(seconds=19)) is None
    happenings = []
    for _ in range(12):
        clock.advance(20)
        happenings.append(traffic.step(clock.now()))
    assert all(happenings)
    actions = len(backmarket.orders) + len(wholecell.received)
    idle = [h for h in happenings if h and ("out of stock" in h or "could be shipped yet" in h)]
    assert actions + len(idle) == 12  # exactly one thing per period
    assert backmarket.quantities[sku] >= 0  # never more orders than stock


def test_a_buyer_only_orders_what_is_in_stock() -> None:
    clock = ManualClock()
    in_stock = demo_catalogue.listing_skus()[2]
    backmarket = FakeBackMarket({in_stock: 1})
    traffic = _traffic(backmarket, FakeWholeCell(), clock)
    assert traffic.buyer_orders().startswith(f"a buyer ordered {in_stock} on Back Market (order 1001)")
    assert traffic.buyer_orders() == "a buyer looked, but every listing is out of stock"
    assert backmarket.orders == [in_stock]


def test_units_arrive_for_demo_skus_never_the_unknown_one() -> None:
    clock = ManualClock()
    wholecell = FakeWholeCell()
    traffic = _traffic(FakeBackMarket({}), wholecell, clock)
    for _ in range(30):
        traffic.units_arrive()
    skus = {sku for sku, _ in wholecell.received}
    assert demo_catalogue.UNKNOWN_SKU not in skus
    assert skus <= set(demo_catalogue.listing_skus())
    assert all(1 <= count <= 3 for _, count in wholecell.received)


def test_an_order_ships_only_when_every_unit_it_needs_is_available() -> None:
    clock = ManualClock()
    wholecell = FakeWholeCell()
    orders = [(7, ["IP13-128-M-A", "IP13-128-M-A"]), (8, ["IP14-128-P-B"])]
    units = {"IP13-128-M-A": [101], "IP14-128-P-B": [201, 202]}
    traffic = _traffic(FakeBackMarket({}), wholecell, clock, orders, units)
    happened = traffic.ship_an_order()
    # Order 7 needs two units of a SKU with one available: order 8 ships instead.
    assert happened.startswith("WholeCell order 8 shipped with ")
    assert wholecell.committed == [(8, 201)]
    (shipment,) = wholecell.shipments
    assert shipment[0] == 8 and shipment[2].startswith("DEMO")
