"""A little life for the demo: buyers order, units arrive in the warehouse, accepted orders ship.

Each :meth:`DemoTraffic.step` that is due does one thing, chosen at random, through the emulators'
control methods (what a buyer on Back Market or a warehouse worker in WholeCell would do) — never
through bmsync: the point is to watch bmsync react.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from bmsync_sandbox import demo_catalogue

CARRIERS = ("UPS", "DHL", "Royal Mail")


class BuyerSide(Protocol):
    """The Back Market emulator's control methods the traffic uses."""

    def create_buyer_order(self, sku: str, quantity: int = 1) -> dict[str, Any]: ...

    def listing(self, sku: str) -> dict[str, Any]: ...


class WarehouseSide(Protocol):
    """The WholeCell emulator's control methods the traffic uses."""

    def receive_units(self, sku_or_variation_id: str | int, count: int) -> list[dict[str, Any]]: ...

    def commit_unit(self, order_id: int, unit_id: int) -> Any: ...

    def add_shipment(self, order_id: int, carrier: str, tracking_number: str) -> Any: ...


#: Sales orders waiting to be shipped: ``(order_id, [sku, ...])`` (read through the WholeCell API).
OrdersToShip = Callable[[], Iterable[tuple[int, list[str]]]]
#: Available units of a SKU in WholeCell: their ids.
AvailableUnits = Callable[[str], list[int]]


class DemoTraffic:
    def __init__(
        self,
        backmarket: BuyerSide,
        wholecell: WarehouseSide,
        *,
        orders_to_ship: OrdersToShip,
        available_units: AvailableUnits,
        rng: random.Random,
        every: timedelta = timedelta(seconds=20),
        start: datetime,
    ) -> None:
        self.backmarket = backmarket
        self.wholecell = wholecell
        self._orders_to_ship = orders_to_ship
        self._available_units = available_units
        self.rng = rng
        self.every = every
        self.next_at = start + every
        self.skus = [sku for sku in demo_catalogue.listing_skus() if sku != demo_catalogue.UNKNOWN_SKU]

    def step(self, now: datetime) -> str | None:
        """Do the next bit of traffic if it is due; what happened, in words (None when nothing was due)."""
        if now < self.next_at:
            return None
        self.next_at = now + self.every
        action = self.rng.choices((self.buyer_orders, self.units_arrive, self.ship_an_order), (4, 4, 2))[0]
        return action()

    def buyer_orders(self) -> str:
        in_stock = [sku for sku in self.skus if int(self.backmarket.listing(sku).get("quantity", 0)) > 0]
        if not in_stock:
            return "a buyer looked, but every listing is out of stock"
        sku = self.rng.choice(in_stock)
        order = self.backmarket.create_buyer_order(sku, quantity=1)
        return f"a buyer ordered {sku} on Back Market (order {order.get('order_id', '?')})"

    def units_arrive(self) -> str:
        sku = self.rng.choice(self.skus)
        count = self.rng.randint(1, 3)
        self.wholecell.receive_units(sku, count)
        return f"{count} unit(s) of {sku} were received in WholeCell"

    def ship_an_order(self) -> str:
        for order_id, skus in self._orders_to_ship():
            units: list[int] = []
            for sku in skus:
                available = [unit for unit in self._available_units(sku) if unit not in units]
                if not available:
                    break
                units.append(available[0])
            else:
                for unit in units:
                    self.wholecell.commit_unit(order_id, unit)
                carrier = self.rng.choice(CARRIERS)
                tracking = f"DEMO{self.rng.randrange(10**9):09d}"
                self.wholecell.add_shipment(order_id, carrier, tracking)
                return f"WholeCell order {order_id} shipped with {carrier} ({tracking})"
        return "no accepted order could be shipped yet (none accepted, or no unit to send)"
