"""A small WholeCell account in memory, with WholeCell's quantity rules (thread-safe, clock-driven).

Rules, as the reference states them:

- *available* of a variation: its units in the chosen statuses (and warehouses) not committed to an order;
- *outstanding*: on sales orders whose status is flagged *open* and that were created in the last 90
  days, each order's item quantity for the variation minus the units of it committed to that order;
- *calculated* = available - outstanding (may be negative).

Committing a unit sets its ``order_id`` and ``sale_price``; a status that does not *allow commitment*
refuses it. ``updated_at`` comes from the injected clock, in milliseconds, and strictly increases with
every change, even within one instant of a ManualClock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bmsync.clock import Clock, SystemClock, parse_iso

OUTSTANDING_WINDOW = timedelta(days=90)


class SandboxValidationError(Exception):
    """A refused write: served as 422 ``{"errors": {field: [message]}}``."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {', '.join(messages)}" for name, messages in fields.items()))
        self.fields = fields


class SandboxNotFound(Exception):
    pass


def _invalid(field_name: str, message: str) -> SandboxValidationError:
    return SandboxValidationError({field_name: [message]})


@dataclass
class Product:
    id: int
    manufacturer: str
    model: str
    variant: str
    network: str
    capacity: str
    color: str


@dataclass
class Variation:
    id: int
    product_id: int
    grade: str
    sku: str | None
    conditions: tuple[str, ...] = ()


@dataclass
class Place:
    id: int
    name: str


@dataclass
class Unit:
    id: int
    esn: str
    hex_id: str
    status: str
    variation_id: int
    warehouse_id: int
    location_id: int | None
    created_at: datetime
    updated_at: datetime
    order_id: int | None = None
    purchase_order_id: int | None = None
    sale_price: int | None = None
    total_price_paid: int | None = None
    initial_price_paid: int | None = None
    custom_field_values: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrderStatus:
    id: int
    title: str
    is_open: bool
    allow_commitment: bool
    sync_to_shipstation: bool


@dataclass
class Customer:
    id: int
    name: str


@dataclass
class Item:
    id: int
    variation_id: int | None
    sku: str | None
    description: str
    quantity: int
    price: int


@dataclass
class Shipment:
    id: int
    carrier: str
    tracking_number: str
    tracking_url: str | None
    shipped_at: datetime


@dataclass
class Order:
    id: int
    status: str
    channel: str
    external_id: str | None
    customer_id: int
    shipping_address: dict[str, Any] | None
    items: list[Item]
    notes: str | None
    created_at: datetime
    updated_at: datetime
    shipments: list[Shipment] = field(default_factory=list)


def _hex_id(number: int) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    text = ""
    number += 36**3  # always four characters
    while number:
        number, digit = divmod(number, len(alphabet))
        text = alphabet[digit] + text
    return text[-4:]


class WholeCellAccount:
    """The account's records and rules. Every public method takes the lock; ids are never reused."""

    def __init__(self, *, clock: Clock | None = None, sku_uniqueness: bool = False) -> None:
        self.clock: Clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.sku_uniqueness = sku_uniqueness
        self.products: dict[int, Product] = {}
        self.variations: dict[int, Variation] = {}
        self.warehouses: dict[int, Place] = {}
        self.locations: dict[int, Place] = {}
        self.inventory_statuses: list[str] = []
        self.order_statuses: dict[str, OrderStatus] = {}
        self.channels: list[str] = []
        self.customers: dict[int, Customer] = {}
        self.units: dict[int, Unit] = {}
        self.orders: dict[int, Order] = {}
        self._last_stamp: datetime | None = None
        # Distinct id ranges, so a unit id passed as an order id fails loudly.
        self._next_ids = {
            "product": 100,
            "variation": 2000,
            "place": 10,
            "status": 1,
            "customer": 300,
            "unit": 100000,
            "order": 50000,
            "item": 70000,
            "shipment": 90000,
        }

    # --- helpers

    def _new_id(self, kind: str) -> int:
        self._next_ids[kind] += 1
        return self._next_ids[kind]

    def stamp(self) -> datetime:
        """Now, in milliseconds, strictly after every stamp handed out before."""
        with self.lock:
            now = self.clock.now()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            if self._last_stamp is not None and now <= self._last_stamp:
                now = self._last_stamp + timedelta(milliseconds=1)
            self._last_stamp = now
            return now

    def _status(self, title: Any, field_name: str = "status") -> OrderStatus:
        if not isinstance(title, str) or title not in self.order_statuses:
            known = ", ".join(self.order_statuses)
            raise _invalid(field_name, f"{title!r} is not a sales order status (known: {known})")
        return self.order_statuses[title]

    def _inventory_status(self, title: Any) -> str:
        if not isinstance(title, str) or title not in self.inventory_statuses:
            known = ", ".join(self.inventory_statuses)
            raise _invalid("status", f"{title!r} is not an inventory status (known: {known})")
        return title

    def _place(self, places: dict[int, Place], name: Any, field_name: str) -> Place:
        for place in places.values():
            if place.name == name:
                return place
        raise _invalid(field_name, f"{name!r} is not a known {field_name}")

    def variation(self, variation_id: Any) -> Variation:
        if not isinstance(variation_id, int) or variation_id not in self.variations:
            raise _invalid("product_variation_id", f"{variation_id!r} is not a product variation")
        return self.variations[variation_id]

    def variations_with_sku(self, sku: str) -> list[Variation]:
        return sorted((v for v in self.variations.values() if v.sku == sku), key=lambda v: v.id)

    def order(self, order_id: int) -> Order:
        if order_id not in self.orders:
            raise SandboxNotFound(f"sales order {order_id}")
        return self.orders[order_id]

    def unit(self, unit_id: int) -> Unit:
        if unit_id not in self.units:
            raise SandboxNotFound(f"inventory {unit_id}")
        return self.units[unit_id]

    # --- set-up (catalogue, statuses, places)

    def add_inventory_status(self, title: str) -> None:
        with self.lock:
            if title not in self.inventory_statuses:
                self.inventory_statuses.append(title)

    def add_order_status(
        self, title: str, *, is_open: bool, allow_commitment: bool, sync_to_shipstation: bool = False
    ) -> OrderStatus:
        with self.lock:
            if not title.strip():
                raise _invalid("title", "can't be blank")
            status = OrderStatus(
                self._new_id("status"), title, is_open, allow_commitment, sync_to_shipstation
            )
            self.order_statuses[title] = status
            return status

    def add_channel(self, name: str) -> None:
        with self.lock:
            if name not in self.channels:
                self.channels.append(name)

    def add_warehouse(self, name: str) -> Place:
        with self.lock:
            place = Place(self._new_id("place"), name)
            self.warehouses[place.id] = place
            return place

    def add_location(self, name: str) -> Place:
        with self.lock:
            place = Place(self._new_id("place"), name)
            self.locations[place.id] = place
            return place

    def add_product(
        self,
        *,
        manufacturer: str,
        model: str,
        capacity: str = "Unknown",
        color: str = "Unknown",
        variant: str = "Unknown",
        network: str = "Unknown",
    ) -> Product:
        with self.lock:
            # WholeCell keeps catalogue text upper-case; parts nobody entered are "Unknown".
            def text(value: str) -> str:
                return value.upper() if value and value != "Unknown" else "Unknown"

            product = Product(
                self._new_id("product"),
                text(manufacturer),
                text(model),
                text(variant),
                text(network),
                text(capacity),
                text(color),
            )
            self.products[product.id] = product
            return product

    def add_variation(
        self, product_id: int, *, grade: str, sku: str | None, conditions: Iterable[str] = ()
    ) -> Variation:
        with self.lock:
            if product_id not in self.products:
                raise _invalid("product_id", f"{product_id!r} is not a product")
            sku = sku.strip() or None if sku is not None else None
            if sku is not None and self.sku_uniqueness and self.variations_with_sku(sku):
                raise _invalid("sku", f"{sku!r} has already been taken (SKU uniqueness is on)")
            variation = Variation(self._new_id("variation"), product_id, grade, sku, tuple(conditions))
            self.variations[variation.id] = variation
            return variation

    def set_sku_uniqueness(self, enabled: bool) -> None:
        with self.lock:
            if enabled:
                skus = [v.sku for v in self.variations.values() if v.sku is not None]
                shared = sorted({sku for sku in skus if skus.count(sku) > 1})
                if shared:
                    raise _invalid(
                        "sku_uniqueness", f"SKUs shared by several variations: {', '.join(shared)}"
                    )
            self.sku_uniqueness = enabled

    # --- units

    def receive_units(
        self,
        sku_or_variation_id: str | int,
        count: int,
        *,
        status: str = "Available",
        warehouse: str | None = None,
        location: str | None = None,
        price_paid: int = 0,
        esns: Sequence[str] | None = None,
        created_at: datetime | None = None,
    ) -> list[Unit]:
        with self.lock:
            if isinstance(sku_or_variation_id, int):
                variation = self.variation(sku_or_variation_id)
            else:
                matches = self.variations_with_sku(sku_or_variation_id)
                if not matches:
                    raise _invalid("sku", f"{sku_or_variation_id!r} is on no product variation")
                variation = matches[0]
            if not isinstance(count, int) or count <= 0:
                raise _invalid("count", "must be greater than 0")
            if esns is not None:
                _check_new_esns(esns, count, {unit.esn for unit in self.units.values()})
            status = self._inventory_status(status)
            warehouse_place = (
                self._place(self.warehouses, warehouse, "warehouse")
                if warehouse is not None
                else next(iter(self.warehouses.values()))
            )
            location_place = self._place(self.locations, location, "location") if location else None
            received = []
            for index in range(count):
                unit_id = self._new_id("unit")
                moment = self.stamp()
                unit = Unit(
                    id=unit_id,
                    esn=esns[index] if esns is not None else f"35{unit_id:013d}",
                    hex_id=_hex_id(unit_id),
                    status=status,
                    variation_id=variation.id,
                    warehouse_id=warehouse_place.id,
                    location_id=location_place.id if location_place else None,
                    created_at=created_at or moment,
                    updated_at=moment,
                    total_price_paid=price_paid,
                    initial_price_paid=price_paid,
                )
                self.units[unit.id] = unit
                received.append(unit)
            return received

    def set_unit_status(self, unit_id: int, status: str) -> Unit:
        with self.lock:
            unit = self.unit(unit_id)
            unit.status = self._inventory_status(status)
            unit.updated_at = self.stamp()
            return unit

    def move_unit(self, unit_id: int, *, warehouse: str | None = None, location: str | None = None) -> Unit:
        with self.lock:
            unit = self.unit(unit_id)
            if warehouse is not None:
                unit.warehouse_id = self._place(self.warehouses, warehouse, "warehouse").id
            if location is not None:
                unit.location_id = self._place(self.locations, location, "location").id
            unit.updated_at = self.stamp()
            return unit

    def commit_unit(self, order_id: int, unit_id: int, sale_price: int | None = None) -> Unit:
        """Commit a unit to an order (a person picking it): sets its ``order_id`` and ``sale_price``."""
        with self.lock:
            order = self.order(order_id)
            unit = self.unit(unit_id)
            if not self.order_statuses[order.status].allow_commitment:
                raise _invalid("order_id", f"status {order.status!r} does not allow inventory commitment")
            if unit.order_id is not None:
                raise _invalid(
                    "inventory_id", f"unit {unit.id} is already committed to order {unit.order_id}"
                )
            items = [item for item in order.items if item.variation_id == unit.variation_id]
            if not items:
                raise _invalid("inventory_id", f"order {order.id} has no item for the unit's variation")
            moment = self.stamp()
            unit.order_id = order.id
            unit.sale_price = items[0].price if sale_price is None else sale_price
            unit.updated_at = moment
            order.updated_at = moment
            return unit

    def release_unit(self, unit_id: int) -> Unit:
        with self.lock:
            unit = self.unit(unit_id)
            if unit.order_id is not None:
                moment = self.stamp()
                self.orders[unit.order_id].updated_at = moment
                unit.order_id = None
                unit.sale_price = None
                unit.updated_at = moment
            return unit

    # --- customers

    def create_customer(self, name: Any) -> Customer:
        with self.lock:
            if not isinstance(name, str) or not name.strip():
                raise _invalid("name", "can't be blank")
            customer = Customer(self._new_id("customer"), name.strip())
            self.customers[customer.id] = customer
            return customer

    def find_or_create_customer(self, name: str) -> Customer:
        with self.lock:
            for customer in self.customers.values():
                if customer.name == name:
                    return customer
            return self.create_customer(name)

    # --- sales orders

    def create_sales_order(
        self,
        *,
        customer_id: Any,
        status: Any,
        channel: Any,
        order_items: Any,
        external_id: Any = None,
        shipping_address: Any = None,
        notes: Any = None,
        created_at: datetime | None = None,
    ) -> Order:
        with self.lock:
            errors: dict[str, list[str]] = {}

            def check(field_name: str, message: str) -> None:
                errors.setdefault(field_name, []).append(message)

            if not isinstance(customer_id, int) or customer_id not in self.customers:
                check("customer_id", f"{customer_id!r} is not a customer")
            if not isinstance(status, str) or status not in self.order_statuses:
                check("status", f"{status!r} is not a sales order status")
            if not isinstance(channel, str) or channel not in self.channels:
                check("channel", f"{channel!r} is not a sales channel (known: {', '.join(self.channels)})")
            if external_id is not None and not isinstance(external_id, str):
                check("external_id", "must be a string")
            if shipping_address is not None and not isinstance(shipping_address, dict):
                check("shipping_address", "must be an object")
            items: list[Item] = []
            if not isinstance(order_items, list) or not order_items:
                check("order_items", "can't be empty")
            else:
                for index, raw in enumerate(order_items):
                    item = self._item(raw, f"order_items[{index}]", check)
                    if item is not None:
                        items.append(item)
            if errors:
                raise SandboxValidationError(errors)
            moment = self.stamp()
            order = Order(
                id=self._new_id("order"),
                status=status,
                channel=channel,
                external_id=external_id,
                customer_id=customer_id,
                shipping_address=shipping_address,
                items=items,
                notes=notes if isinstance(notes, str) else None,
                created_at=created_at or moment,
                updated_at=moment,
            )
            self.orders[order.id] = order
            return order

    def _item(self, raw: Any, where: str, check: Any) -> Item | None:
        if not isinstance(raw, dict):
            check(where, "must be an object")
            return None
        variation_id = raw.get("product_variation_id")
        sku = raw.get("sku")
        quantity: Any = raw.get("quantity")
        price: Any = raw.get("price", 0)
        valid = True
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            check(f"{where}.quantity", "must be greater than 0")
            valid = False
        if not isinstance(price, int) or isinstance(price, bool) or price < 0:
            check(f"{where}.price", "must be a whole number of cents, 0 or more")
            valid = False
        if variation_id is not None:
            if not isinstance(variation_id, int) or variation_id not in self.variations:
                check(f"{where}.product_variation_id", f"{variation_id!r} is not a product variation")
                valid = False
            else:
                sku = self.variations[variation_id].sku
        elif isinstance(sku, str) and sku.strip():
            # Matched by SKU: the lowest-id variation of it; a SKU on no variation keeps its
            # description and has no variation (nothing can be committed to it).
            matches = self.variations_with_sku(sku.strip())
            variation_id = matches[0].id if matches else None
            sku = sku.strip()
        else:
            check(f"{where}.product_variation_id", "give a product_variation_id or a sku")
            valid = False
        if not valid:
            return None
        description = raw.get("description") or ""
        return Item(self._new_id("item"), variation_id, sku, str(description), quantity, price)

    def set_order_status(self, order_id: int, status: Any) -> Order:
        with self.lock:
            order = self.order(order_id)
            self._status(status)
            if order.status != status:
                order.status = status
                order.updated_at = self.stamp()
            return order

    def add_shipment(
        self, order_id: int, carrier: str, tracking_number: str, tracking_url: str | None = None
    ) -> Shipment:
        """A shipment entered by a person or imported from ShipStation."""
        with self.lock:
            order = self.order(order_id)
            if not carrier or not carrier.strip():
                raise _invalid("carrier", "can't be blank")
            if not tracking_number or not tracking_number.strip():
                raise _invalid("tracking_number", "can't be blank")
            moment = self.stamp()
            shipment = Shipment(
                self._new_id("shipment"), carrier.strip(), tracking_number.strip(), tracking_url, moment
            )
            order.shipments.append(shipment)
            order.updated_at = moment
            return shipment

    # --- the quantity rules

    def _statuses(self, statuses: Iterable[str] | None) -> set[str]:
        return set(statuses) if statuses is not None else {"Available"}

    def available(
        self,
        variation_id: int,
        statuses: Iterable[str] | None = None,
        warehouses: Iterable[str] | None = None,
    ) -> int:
        with self.lock:
            chosen = self._statuses(statuses)
            chosen_warehouses = set(warehouses or ())
            return sum(
                1
                for unit in self.units.values()
                if unit.variation_id == variation_id
                and unit.order_id is None
                and unit.status in chosen
                and (not chosen_warehouses or self.warehouses[unit.warehouse_id].name in chosen_warehouses)
            )

    def outstanding(self, variation_id: int) -> int:
        with self.lock:
            since = self.clock.now() - OUTSTANDING_WINDOW
            total = 0
            for order in self.orders.values():
                if not self.order_statuses[order.status].is_open or order.created_at < since:
                    continue
                wanted = sum(item.quantity for item in order.items if item.variation_id == variation_id)
                committed = sum(
                    1
                    for unit in self.units.values()
                    if unit.order_id == order.id and unit.variation_id == variation_id
                )
                total += max(0, wanted - committed)
            return total

    def calculated_quantity(
        self,
        variation_id: int,
        statuses: Iterable[str] | None = None,
        warehouses: Iterable[str] | None = None,
    ) -> int:
        """WholeCell's *calculated* quantity: available - outstanding (may be negative)."""
        with self.lock:
            return self.available(variation_id, statuses, warehouses) - self.outstanding(variation_id)

    def stock_levels(self, statuses: Iterable[str] | None) -> list[dict[str, Any]]:
        """Per SKU (adopted): ``on_hand`` units in the statuses (all statuses when none are given),
        ``outstanding``, and ``available`` = uncommitted on hand - outstanding."""
        with self.lock:
            chosen = set(statuses) if statuses else set(self.inventory_statuses)
            levels: dict[str | None, dict[str, Any]] = {}
            for variation in sorted(self.variations.values(), key=lambda v: v.id):
                level = levels.setdefault(
                    variation.sku, {"sku": variation.sku, "on_hand": 0, "outstanding": 0, "available": 0}
                )
                on_hand = [
                    u for u in self.units.values() if u.variation_id == variation.id and u.status in chosen
                ]
                outstanding = self.outstanding(variation.id)
                level["on_hand"] += len(on_hand)
                level["outstanding"] += outstanding
                level["available"] += sum(1 for u in on_hand if u.order_id is None) - outstanding
            return list(levels.values())

    # --- the lists the API serves (ids ascending, so pages are stable)

    def list_units(self, filters: dict[str, str]) -> list[Unit]:
        with self.lock:
            after = _time_filter(filters.get("updated_at_gt"))
            location = filters.get("location")
            result = []
            for unit in sorted(self.units.values(), key=lambda u: u.id):
                if "status" in filters and unit.status != filters["status"]:
                    continue
                if "esn" in filters and unit.esn != filters["esn"]:
                    continue
                if location is not None and (
                    unit.location_id is None or self.locations[unit.location_id].name != location
                ):
                    continue
                if after is not None and not unit.updated_at > after:
                    continue
                result.append(unit)
            return result

    def list_orders(self, filters: dict[str, str]) -> list[Order]:
        with self.lock:
            after = _time_filter(filters.get("updated_at_gt"))
            return [
                order
                for order in sorted(self.orders.values(), key=lambda o: o.id)
                if ("channel" not in filters or order.channel == filters["channel"])
                and ("status" not in filters or order.status == filters["status"])
                and (after is None or order.updated_at > after)
            ]

    def list_variations(self, sku: str | None) -> list[Variation]:
        with self.lock:
            return [
                v for v in sorted(self.variations.values(), key=lambda v: v.id) if sku is None or v.sku == sku
            ]

    def list_customers(self, name: str | None) -> list[Customer]:
        with self.lock:
            # The name filter is a search (case-insensitive, part of the name), not an exact match.
            wanted = (name or "").strip().lower()
            return [
                c for c in sorted(self.customers.values(), key=lambda c: c.id) if wanted in c.name.lower()
            ]


def _time_filter(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as error:
        raise _invalid("updated_at_gt", f"{value!r} is not an ISO-8601 time") from error


def _check_new_esns(esns: Sequence[str], count: int, taken: set[str]) -> None:
    """One ESN (serial number or IMEI) per unit, each a non-empty string of up to 50, none already used."""
    if len(esns) != count:
        raise _invalid("esns", f"gives {len(esns)} ESNs for {count} units")
    for esn in esns:
        if not isinstance(esn, str) or not esn.strip() or len(esn) > 50 or esn != esn.strip():
            raise _invalid("esns", f"{esn!r} is not a serial number or IMEI (1 to 50 characters, no spaces)")
    repeated = sorted({esn for esn in esns if esn in taken or list(esns).count(esn) > 1})
    if repeated:
        raise _invalid("esns", f"already on another unit: {', '.join(repeated)}")
