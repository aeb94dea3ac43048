"""A refurbisher's day, seeded: buyers on Back Market, a warehouse and other channels in WholeCell.

Every action goes through the emulators' control methods (what a buyer, a warehouse worker or a
seller in Back Market's portal does), never through bmsync. Actions are events on a timeline drawn
from one ``random.Random(seed)``: the same seed gives the same day, event for event.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bmsync.clock import ManualClock
from bmsync_sandbox import demo_catalogue

CARRIERS = ("UPS", "DHL", "Royal Mail")
OTHER_CHANNELS = ("Amazon", "eBay", "Wholesale")


@dataclass(frozen=True)
class TrafficRates:
    """Events per simulated hour (Poisson processes), and how people behave."""

    buyer_orders: float = 6.0
    units_received: float = 5.0
    other_channel_orders: float = 2.0
    shipments: float = 5.0
    hand_status_changes: float = 0.3
    bursts_per_day: float = 3.0
    burst_factor: float = 6.0
    burst_minutes: float = 15.0
    #: Minutes before a person validates a paid order on Back Market (uniform), and how often late.
    validation_minutes: tuple[float, float] = (2.0, 30.0)
    late_validation_share: float = 0.2
    late_validation_minutes: tuple[float, float] = (60.0, 240.0)
    ship_before_validation_share: float = 0.15
    graded_share: float = 0.3  # units received in "Grading", made Available later
    grading_minutes: tuple[float, float] = (10.0, 90.0)
    token_rotations_per_day: float = 0.0
    token_replacement_minutes: tuple[float, float] = (5.0, 30.0)
    #: A seller who maps `paid` late: the connection starts with it unmapped (orders wait, recorded
    #: as not imported) and the seller maps it this many hours into the traffic (uniform; at the
    #: latest when the traffic stops). None: mapped from the start.
    late_mapping_hours: tuple[float, float] | None = (2.0, 6.0)


class Observer(Protocol):
    """What the simulator's metrics hear from the traffic (the causes whose effects it times)."""

    def stock_changed(self, sku: str | None, at: datetime) -> None: ...

    def buyer_ordered(self, order: dict[str, Any], at: datetime) -> None: ...

    def shipped(self, wholecell_order: dict[str, Any], at: datetime) -> None: ...


class SellerPortal(Protocol):
    """The seller's own actions on Back Market (validating lines), outside bmsync."""

    def accept(self, order_id: int, sku: str) -> None: ...


@dataclass(order=True)
class _Event:
    at: datetime
    sequence: int
    kind: str = field(compare=False)
    payload: Any = field(compare=False, default=None)


class Traffic:
    def __init__(
        self,
        *,
        backmarket: Any,
        wholecell: Any,
        portal: SellerPortal,
        observer: Observer,
        rng: random.Random,
        start: datetime,
        rates: TrafficRates,
        rotate_token: Callable[[], None] | None = None,
        replace_token: Callable[[], None] | None = None,
        map_paid: Callable[[], None] | None = None,
    ) -> None:
        self.backmarket = backmarket
        self.wholecell = wholecell
        self.portal = portal
        self.observer = observer
        self.rng = rng
        # When things happen comes from its own generator: two strategies run on the same seed get
        # the same arrivals even where the traffic reacts differently to what they did (a buyer
        # only orders what Back Market shows in stock).
        self._arrivals = random.Random(rng.getrandbits(64))
        self.rates = rates
        self._rotate_token = rotate_token
        self._replace_token = replace_token
        self._map_paid = map_paid
        self._queue: list[_Event] = []
        self._sequence = 0
        self.burst_until = start
        self.counts: dict[str, int] = {}
        self.last_action_at = start  # when the traffic last changed something (the settle counts from it)
        self.reached = start  # the latest moment run_due was asked for
        self.active = True
        for kind, rate in self._processes().items():
            if rate > 0:
                self._schedule(start + self._gap(rate), kind)
        if map_paid is not None and rates.late_mapping_hours is not None:
            self._schedule(start + timedelta(hours=self.rng.uniform(*rates.late_mapping_hours)), "map_paid")

    # -- the timeline
    def _processes(self) -> dict[str, float]:
        rates = self.rates
        return {
            "buyer_order": rates.buyer_orders,
            "receive": rates.units_received,
            "other_channel_order": rates.other_channel_orders,
            "ship": rates.shipments,
            "hand_status": rates.hand_status_changes,
            "burst": rates.bursts_per_day / 24,
            "token_rotation": rates.token_rotations_per_day / 24,
        }

    def _gap(self, per_hour: float) -> timedelta:
        return timedelta(hours=self._arrivals.expovariate(per_hour))

    def _schedule(self, at: datetime, kind: str, payload: Any = None) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, _Event(at, self._sequence, kind, payload))

    def _minutes(self, bounds: tuple[float, float]) -> timedelta:
        return timedelta(minutes=self.rng.uniform(*bounds))

    def run_due(self, now: datetime, clock: ManualClock) -> int:
        """Apply every event due by ``now``, in time order, each at its own moment (the clock is
        moved to it, so the emulators stamp it then); how many happened."""
        done = 0
        while self._queue and self._queue[0].at <= now:
            event = heapq.heappop(self._queue)
            clock.set(event.at)
            recurring = self._processes().get(event.kind)
            if recurring:
                if not self.active:
                    continue  # the traffic has stopped: the system is left to settle
                rate = recurring * (
                    self.rates.burst_factor
                    if event.kind == "buyer_order" and event.at < self.burst_until
                    else 1
                )
                self._schedule(event.at + self._gap(rate), event.kind)
            if getattr(self, f"_do_{event.kind}")(event.at, event.payload):
                self.counts[event.kind] = self.counts.get(event.kind, 0) + 1
                self.last_action_at = event.at
                done += 1
        self.reached = max(self.reached, now)
        return done

    def pending_people_actions(self) -> bool:
        """Whether something people started is still to happen (a validation, grading, a token)."""
        return any(event.kind not in self._processes() for event in self._queue)

    def stop(self) -> None:
        """No new buyers, units or shipments; what people already started (validations, grading,
        token replacement) still happens. A seller who has not mapped `paid` yet maps it now, so
        every order can be imported by the end."""
        self.active = False
        for event in self._queue:
            if event.kind == "map_paid":
                event.at = min(event.at, self.reached)
        heapq.heapify(self._queue)

    # -- buyers
    def _do_buyer_order(self, at: datetime, payload: Any) -> bool:
        in_stock = sorted(
            (listing["sku"], int(listing["quantity"]))
            for listing in self.backmarket.listings()
            if int(listing.get("quantity") or 0) > 0
        )
        if not in_stock:
            return False
        sku, offered = self.rng.choice(in_stock)
        quantity = 2 if offered >= 2 and self.rng.random() < 0.1 else 1
        order = self.backmarket.create_buyer_order(sku, quantity=quantity)
        self.observer.buyer_ordered(order, at)
        late = self.rng.random() < self.rates.late_validation_share
        delay = self._minutes(self.rates.late_validation_minutes if late else self.rates.validation_minutes)
        self._schedule(at + delay, "validate", (int(order["order_id"]), sku))
        return True

    def _do_burst(self, at: datetime, payload: Any) -> bool:
        self.burst_until = at + timedelta(minutes=self.rates.burst_minutes)
        return True

    def _do_validate(self, at: datetime, payload: Any) -> bool:
        order_id, sku = payload
        order = self.backmarket.order(order_id)
        if order["state"] != 1:
            return False
        self.portal.accept(order_id, sku)
        return True

    # -- the warehouse
    def _variations(self) -> list[dict[str, Any]]:
        return sorted(self.wholecell.variations(), key=lambda variation: variation["id"])

    def _do_receive(self, at: datetime, payload: Any) -> bool:
        variation = self.rng.choice(self._variations())
        count = self.rng.randint(1, 3)
        grading = self.rng.random() < self.rates.graded_share
        units = self.wholecell.receive_units(
            variation["id"], count, status="Grading" if grading else "Available"
        )
        if grading:
            for unit in units:
                self._schedule(at + self._minutes(self.rates.grading_minutes), "graded", unit["id"])
        else:
            self.observer.stock_changed(variation.get("sku"), at)
        return True

    def _do_graded(self, at: datetime, unit_id: int) -> bool:
        unit = self.wholecell.set_unit_status(unit_id, "Available")
        self.observer.stock_changed(_unit_sku(unit), at)
        return True

    def _free_units(self, variation_id: int) -> list[int]:
        account = self.wholecell.account
        with account.lock:
            return sorted(
                unit.id
                for unit in account.units.values()
                if unit.variation_id == variation_id and unit.order_id is None and unit.status == "Available"
            )

    def _free_units_by_variation(self) -> dict[int, list[int]]:
        """:meth:`_free_units` of every variation, in one pass over the units (a scale account has
        tens of thousands: one pass per variation was minutes per simulated hour)."""
        account = self.wholecell.account
        free: dict[int, list[int]] = {}
        with account.lock:
            for unit in account.units.values():
                if unit.order_id is None and unit.status == "Available":
                    free.setdefault(unit.variation_id, []).append(unit.id)
        return {variation_id: sorted(units) for variation_id, units in free.items()}

    def _do_other_channel_order(self, at: datetime, payload: Any) -> bool:
        free = self._free_units_by_variation()
        stocked = [v for v in self._variations() if free.get(v["id"])]
        if not stocked:
            return False
        variation = self.rng.choice(stocked)
        order = self.wholecell.create_sales_order(
            order_items=[{"product_variation_id": variation["id"], "quantity": 1, "price": 25000}],
            channel=self.rng.choice(OTHER_CHANNELS),
            status="Processing",
            customer_name="Other channel buyer",
        )
        self.wholecell.commit_unit(order["id"], free[variation["id"]][0])
        self.observer.stock_changed(variation.get("sku"), at)
        return True

    def _do_ship(self, at: datetime, payload: Any) -> bool:
        early = self.rng.random() < self.rates.ship_before_validation_share
        wanted = ("Processing", "Pending") if early else ("Processing",)
        candidates = sorted(
            (order for order in self.wholecell.orders(channel="Backmarket")),
            key=lambda order: order["id"],
        )
        for order in candidates:
            if order["status"] not in wanted or order.get("shipments"):
                continue
            picks = self._pick_units(order)
            if picks is None:
                continue
            for unit_id in picks:
                self.wholecell.commit_unit(order["id"], unit_id)
            carrier = self.rng.choice(CARRIERS)
            self.wholecell.add_shipment(order["id"], carrier, f"SIM{self.rng.randrange(10**10):010d}")
            self.observer.shipped(order, at)
            return True
        return False

    def _pick_units(self, order: dict[str, Any]) -> list[int] | None:
        committed = {unit["id"] for unit in order.get("inventories") or []}
        picks: list[int] = []
        for item in order.get("order_items") or []:
            variation_id = item.get("product_variation_id")
            if variation_id is None:
                return None
            needed = int(item["quantity"]) - sum(
                1
                for unit in order.get("inventories") or []
                if unit.get("product_variation_id") == variation_id
            )
            free = [
                unit for unit in self._free_units(variation_id) if unit not in committed and unit not in picks
            ]
            if len(free) < needed:
                return None
            picks.extend(free[: max(0, needed)])
        return picks

    def _do_hand_status(self, at: datetime, payload: Any) -> bool:
        """A person moves a Back Market order in WholeCell by hand (bmsync follows Back Market)."""
        open_orders = [
            order
            for order in sorted(self.wholecell.orders(channel="Backmarket"), key=lambda order: order["id"])
            if order["status"] in ("Pending", "Processing") and not order.get("shipments")
        ]
        if not open_orders:
            return False
        order = self.rng.choice(open_orders)
        self.wholecell.set_order_status(
            order["id"], "Processing" if order["status"] == "Pending" else "Pending"
        )
        return True

    # -- the seller's settings
    def _do_map_paid(self, at: datetime, payload: Any) -> bool:
        assert self._map_paid is not None
        self._map_paid()
        return True

    # -- credentials
    def _do_token_rotation(self, at: datetime, payload: Any) -> bool:
        if self._rotate_token is None or self._replace_token is None:
            return False
        self._rotate_token()
        self._schedule(at + self._minutes(self.rates.token_replacement_minutes), "token_replacement")
        return True

    def _do_token_replacement(self, at: datetime, payload: Any) -> bool:
        assert self._replace_token is not None
        self._replace_token()
        return True


def _unit_sku(unit: dict[str, Any]) -> str | None:
    variation = unit.get("product_variation") or {}
    return variation.get("sku")


def add_catalogue(
    backmarket: Any,
    wholecell: Any,
    rng: random.Random,
    extra_skus: int,
    units_per_variation: tuple[int, int] = (0, 4),
) -> list[str]:
    """Grow the demo account by ``extra_skus`` SKUs on both sides (a third of them on two WholeCell
    grades, like the demo's shared SKUs), each variation with ``units_per_variation`` units (uniform,
    inclusive); the SKUs added."""
    added = []
    for index in range(extra_skus):
        sku = f"SIM-{index:04d}"
        grades = ("A+", "A") if index % 3 == 0 else ("B",)
        total = 0
        for grade in grades:
            variation = wholecell.add_variation(sku=sku, grade=grade, model=f"Sim phone {index}")
            count = rng.randint(*units_per_variation)
            if count:
                wholecell.receive_units(variation["id"], count)
            total += count
        backmarket.add_listing(sku, total, price="199.00", publication_state=2)
        added.append(sku)
    return added


def listed_skus(backmarket: Any) -> list[str]:
    """The Back Market listings that can be connected (the demo's unknown SKU is not)."""
    return sorted(
        listing["sku"] for listing in backmarket.listings() if listing["sku"] != demo_catalogue.UNKNOWN_SKU
    )
