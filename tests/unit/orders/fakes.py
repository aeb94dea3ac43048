"""In-memory stand-ins for the Back Market and WholeCell clients, shaped like their models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bmsync.backmarket.models import Order, OrderLine
from bmsync.errors import IntegrationError
from bmsync.wholecell.errors import NotFound


@dataclass
class FakeShipment:
    id: int
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None = None
    shipped_at: datetime | None = None


@dataclass
class FakeUnit:
    esn: str | None
    product_variation_id: int | None = None


@dataclass
class FakeSalesOrder:
    id: int
    status: str
    external_id: str | None
    channel: str | None = "Backmarket"
    customer: Any = None
    order_items: list[Any] = field(default_factory=list)
    inventories: list[FakeUnit] = field(default_factory=list)
    shipments: list[FakeShipment] = field(default_factory=list)
    notes: str | None = None
    created_at: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    updated_at: datetime = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class FakeAddress:
    first_name: str | None = "Alex"
    last_name: str | None = "Martin"
    company: str | None = ""
    street: str | None = "1 Sample Street"
    street2: str | None = ""
    postal_code: str | None = "B94 4RE"
    city: str | None = "London"
    country: str | None = "GB"
    phone: str | None = "0123"


@dataclass
class FakeLine:
    id: int
    state: int
    listing: str
    quantity: int = 1
    price: Decimal = Decimal("329.00")
    product: str | None = "iPhone 13 128GB - Midnight"

    def unit_prices_cents(self) -> list[int]:
        line = OrderLine(
            id=self.id, state=self.state, listing=self.listing, quantity=self.quantity, price=self.price
        )
        return line.unit_prices_cents()


@dataclass
class FakeOrder:
    order_id: int
    state: int
    orderlines: list[FakeLine]
    date_creation: datetime | None = None
    date_modification: datetime | None = None
    shipping_address: FakeAddress | None = field(default_factory=FakeAddress)
    tracking_number: str | None = ""
    currency: str | None = "GBP"
    country_code: str | None = "en-gb"

    @property
    def currency_code(self) -> str | None:
        return self.currency

    def currency_differs_from(self, account_currency: str) -> bool:
        return Order(
            order_id=self.order_id, state=self.state, currency=self.currency, country_code=self.country_code
        ).currency_differs_from(account_currency)


class BackMarketError(IntegrationError):
    service = "backmarket"


class InvalidTransition(BackMarketError):
    pass


class ServerError(BackMarketError):
    retryable = True


class FakeBackMarket:
    """Orders by id; shipping applies to accepted lines, refuses anything else like Back Market."""

    def __init__(self) -> None:
        self.orders: dict[int, FakeOrder] = {}
        self.calls: list[tuple[str, Any]] = []
        self.fail_next: list[IntegrationError] = []

    def add(self, order: FakeOrder) -> FakeOrder:
        self.orders[order.order_id] = order
        return order

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    def iter_orders(self, *, state=None, date_creation=None, date_modification=None, country_code=None):
        self.calls.append(("iter_orders", {"state": state, "date_modification": date_modification}))
        for order in list(self.orders.values()):
            if state is not None and order.state != state:
                continue
            if date_modification is not None and (
                order.date_modification is None or order.date_modification < date_modification
            ):
                continue
            yield order

    def get_order(self, order_id: int) -> FakeOrder:
        self.calls.append(("get_order", order_id))
        self._maybe_fail()
        return self.orders[order_id]

    def _line(self, order_id: int, sku: str) -> FakeLine:
        return next(line for line in self.orders[order_id].orderlines if line.listing == sku)

    def accept_orderline(self, order_id: int, sku: str) -> FakeOrder:
        self.calls.append(("accept", (order_id, sku)))
        self._maybe_fail()
        self._line(order_id, sku).state = 2
        self._settle(order_id)
        return self.orders[order_id]

    def cancel_orderline(self, order_id: int, sku: str) -> FakeOrder:
        self.calls.append(("cancel", (order_id, sku)))
        self._line(order_id, sku).state = 4
        self._settle(order_id)
        return self.orders[order_id]

    def _settle(self, order_id: int) -> None:
        order = self.orders[order_id]
        states = {line.state for line in order.orderlines}
        if states <= {3, 4, 5, 6}:
            order.state = 9
        elif states <= {2, 3, 4, 5, 6}:
            order.state = 3

    def ship_order(self, order_id: int, **fields: Any) -> FakeOrder:
        self.calls.append(("ship", (order_id, fields)))
        self._maybe_fail()
        order = self.orders[order_id]
        if any(line.state == 1 for line in order.orderlines):
            raise InvalidTransition(f"order {order_id}: orderline is not accepted", status=400)
        for line in order.orderlines:
            if line.state == 2:
                line.state = 3
        order.tracking_number = fields["tracking_number"]
        self._settle(order_id)
        return order

    def set_orderline_identifiers(self, orderline_id: int, *, imei=None, serial_number=None) -> None:
        self.calls.append(("identifiers", (orderline_id, imei, serial_number)))

    def sent(self, name: str) -> list[Any]:
        return [arguments for call, arguments in self.calls if call == name]


@dataclass
class FakeVariation:
    id: int
    sku: str | None


@dataclass
class FakeCustomer:
    id: int
    name: str


class FakeWholeCell:
    def __init__(self, variations: list[FakeVariation] | None = None) -> None:
        self.variations = variations or []
        self.customers: dict[str, FakeCustomer] = {}
        self.orders: dict[int, FakeSalesOrder] = {}
        self.created: list[Any] = []
        self.status_updates: list[tuple[int, str]] = []
        #: Raised right after the order is created in WholeCell (a crash before bmsync records it).
        self.crash_after_create: list[Exception] = []
        #: The account does not know the field ``external_id`` (the real API names it otherwise).
        self.external_id_unknown = False
        #: Times WholeCell's own clock gives new orders (the harness sets it).
        self.clock: Any = None
        self.listings: list[dict[str, Any]] = []

    def iter_product_variations(self, *, sku: str | None = None) -> Iterator[FakeVariation]:
        for variation in self.variations:
            if sku is None or (variation.sku or "").lower() == sku.lower():
                yield variation

    def find_or_create_customer(self, name: str) -> FakeCustomer:
        return self.customers.setdefault(name, FakeCustomer(len(self.customers) + 1, name))

    def find_sales_order_by_external_id(self, external_id: str, *, channel: str = "Backmarket"):
        return next(
            (o for o in self.orders.values() if o.external_id == external_id and o.channel == channel), None
        )

    def iter_sales_orders(self, *, channel=None, status=None, updated_at_gt=None) -> Iterator[FakeSalesOrder]:
        self.listings.append({"channel": channel, "updated_at_gt": updated_at_gt})
        for order in list(self.orders.values()):
            if channel is not None and order.channel != channel:
                continue
            if updated_at_gt is not None and order.updated_at <= updated_at_gt:
                continue
            yield order

    def add_foreign_order(self, external_id: str | None, *, notes: str | None = None) -> FakeSalesOrder:
        """An order another integration (WholeCell's own) created on the channel."""
        now = self.clock.now() if self.clock else datetime(2024, 1, 1, tzinfo=UTC)
        sales_order = FakeSalesOrder(
            id=1000 + len(self.orders),
            status="Processing",
            external_id=external_id,
            notes=notes,
            created_at=now,
            updated_at=now,
        )
        self.orders[sales_order.id] = sales_order
        return sales_order

    def create_sales_order(self, order: Any) -> FakeSalesOrder:
        self.created.append(order)
        now = self.clock.now() if self.clock else datetime(2024, 1, 1, tzinfo=UTC)
        sales_order = FakeSalesOrder(
            id=1000 + len(self.orders),
            status=order.status,
            external_id=None if self.external_id_unknown else order.external_id,
            channel=order.channel,
            customer=order.customer_id,
            order_items=list(order.order_items),
            notes=order.notes,
            created_at=now,
            updated_at=now,
        )
        self.orders[sales_order.id] = sales_order
        if self.crash_after_create:
            raise self.crash_after_create.pop(0)
        return sales_order

    def get_sales_order(self, order_id: int) -> FakeSalesOrder:
        if order_id not in self.orders:
            raise NotFound(f"no sales order {order_id}", status=404)
        return self.orders[order_id]

    def update_sales_order_status(self, order_id: int, status: str) -> FakeSalesOrder:
        self.status_updates.append((order_id, status))
        self.orders[order_id].status = status
        return self.orders[order_id]


@dataclass
class FakeStockLevel:
    calculated: int


class FakeStock:
    """The stock mirror: calculated quantity per variation id (strings, as the stock table keys them)."""

    def __init__(self, levels: dict[str, int] | None = None) -> None:
        self.levels = dict(levels or {})
        self.reserved: list[tuple[str, int]] = []

    def get_many(self, variation_ids) -> dict[str, FakeStockLevel]:
        return {vid: FakeStockLevel(self.levels[vid]) for vid in variation_ids if vid in self.levels}

    def reserve_for_order(self, variation_id: str, quantity: int, *, as_of: str) -> bool:
        self.reserved.append((variation_id, quantity))
        if variation_id not in self.levels:
            return False
        self.levels[variation_id] -= quantity
        return True


@dataclass
class FakeListing:
    listing_id: str
    sku: str


class FakeListings:
    def __init__(self, chosen: dict[str, list[str]] | None = None) -> None:
        #: SKU -> chosen variation ids of its listing
        self.chosen = chosen or {}
        self.sales: list[tuple[str, int, str]] = []

    def by_sku(self, sku: str) -> list[FakeListing]:
        return [FakeListing(f"listing-{s}", s) for s in self.chosen if s.lower() == sku.lower()]

    def chosen_variations(self, listing_id: str) -> list[str]:
        return self.chosen[listing_id.removeprefix("listing-")]

    def record_backmarket_sale(
        self, listing_id: str, quantity: int, *, writer: str, sold_at: datetime | None = None
    ) -> bool:
        self.sales.append((listing_id, quantity, writer))
        return True
