"""Small in-memory stand-ins for the parts of the two clients the inventory flows use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bmsync.backmarket.errors import NotFound, RateLimited
from bmsync.backmarket.models import ListingCounts


@dataclass
class Ref:
    name: str
    id: int | None = None


@dataclass
class Variation:
    id: int
    sku: str | None


@dataclass
class Unit:
    id: int
    variation: Variation | None
    status: str
    updated_at: datetime
    order_id: int | None = None
    warehouse: Ref | None = field(default_factory=lambda: Ref("Main Warehouse", 1))

    @property
    def product_variation(self) -> Variation | None:
        return self.variation


@dataclass
class Item:
    product_variation_id: int | None
    quantity: int
    sku: str | None = None


@dataclass
class Committed:
    product_variation_id: int | None
    esn: str | None = None


@dataclass
class Order:
    id: int
    status: str
    created_at: datetime
    updated_at: datetime
    order_items: list[Item] = field(default_factory=list)
    inventories: list[Committed] = field(default_factory=list)
    channel: str | None = "Amazon"
    external_id: str | None = None
    shipments: list[Any] = field(default_factory=list)


@dataclass
class Status:
    title: str
    is_open: bool


@dataclass
class Page:
    items: list[Any]
    page: int
    pages: int

    @property
    def last(self) -> bool:
        return not self.items or self.page >= self.pages


def page_of(items: list[Any], page: int, size: int) -> Page:
    """WholeCell's paging: ``size`` a page in id order; past the end, an empty page."""
    ordered = sorted(items, key=lambda item: item.id)
    return Page(ordered[(page - 1) * size : page * size], page, -(-len(ordered) // size))


class FakeWholeCell:
    def __init__(self) -> None:
        #: Items a page (WholeCell's is 100; tests of a reconciliation over several runs make it small).
        self.page_size = 100
        self.variations: list[Variation] = []
        self.units: dict[int, Unit] = {}
        self.orders: dict[int, Order] = {}
        self.statuses = [Status("Pending", True), Status("Processing", True), Status("Shipped", False)]
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def variation(self, variation_id: int, sku: str | None) -> Variation:
        variation = Variation(variation_id, sku)
        self.variations.append(variation)
        return variation

    def iter_product_variations(self, *, sku: str | None = None) -> Iterator[Variation]:
        self.calls.append(("product_variations", {"sku": sku}))
        return iter([variation for variation in self.variations if sku is None or variation.sku == sku])

    def iter_inventories(
        self,
        *,
        status: str | None = None,
        esn: str | None = None,
        location: str | None = None,
        updated_at_gt: datetime | None = None,
    ) -> Iterator[Unit]:
        self.calls.append(("inventories", {"status": status, "updated_at_gt": updated_at_gt}))
        return iter(
            [
                unit
                for unit in self.units.values()
                if (status is None or unit.status == status)
                and (updated_at_gt is None or unit.updated_at > updated_at_gt)
            ]
        )

    def product_variation_page(self, *, page: int) -> Page:
        self.calls.append(("product_variations", {"page": page}))
        return page_of(self.variations, page, self.page_size)

    def inventory_page(self, *, page: int, status: str | None = None) -> Page:
        self.calls.append(("inventories", {"status": status, "page": page}))
        units = [unit for unit in self.units.values() if status is None or unit.status == status]
        return page_of(units, page, self.page_size)

    def sales_order_page(self, *, page: int, updated_at_gt: datetime | None = None) -> Page:
        self.calls.append(("sales_orders", {"updated_at_gt": updated_at_gt, "page": page}))
        orders = [o for o in self.orders.values() if updated_at_gt is None or o.updated_at > updated_at_gt]
        return page_of(orders, page, self.page_size)

    def list_sales_order_statuses(self) -> list[Status]:
        return list(self.statuses)

    def iter_sales_orders(
        self, *, channel: str | None = None, status: str | None = None, updated_at_gt: datetime | None = None
    ) -> Iterator[Order]:
        self.calls.append(("sales_orders", {"updated_at_gt": updated_at_gt}))
        return iter(
            [
                order
                for order in self.orders.values()
                if updated_at_gt is None or order.updated_at > updated_at_gt
            ]
        )


@dataclass
class Listing:
    id: str
    sku: str
    quantity: int
    publication_state: int = 2
    listing_id: int | None = None
    title: str | None = "iPhone 13 128GB - Midnight"
    grade: str | None = "EXCELLENT"


class FakeBackMarket:
    """Listings with quantities, a log of updates, and the SKU-update budget each update spends."""

    def __init__(self, *, sku_budget: int = 2000) -> None:
        self.listings: dict[str, Listing] = {}
        self.updates: list[tuple[str, int | None, int | None]] = []
        self.sku_budget = sku_budget
        self.fail_next: list[Exception] = []

    def add(self, listing_id: str, sku: str, quantity: int, publication_state: int = 2) -> Listing:
        listing = Listing(listing_id, sku, quantity, publication_state, listing_id=len(self.listings) + 1)
        self.listings[listing_id] = listing
        return listing

    def iter_listings(
        self,
        *,
        publication_state: int | None = None,
        min_quantity: int | None = None,
        max_quantity: int | None = None,
    ) -> Iterator[Listing]:
        return iter(
            [
                listing
                for listing in self.listings.values()
                if (publication_state is None or listing.publication_state == publication_state)
                and (min_quantity is None or listing.quantity >= min_quantity)
                and (max_quantity is None or listing.quantity <= max_quantity)
            ]
        )

    def listing_counts(self) -> ListingCounts:
        return ListingCounts(
            all=len(self.listings),
            online=sum(1 for listing in self.listings.values() if listing.publication_state == 2),
            offline_sold_out=sum(
                1
                for listing in self.listings.values()
                if listing.publication_state == 3 and listing.quantity <= 0
            ),
        )

    def update_listing(
        self,
        listing_ref: str | int,
        *,
        quantity: int | None = None,
        pub_state: int | None = None,
        **fields: Any,
    ) -> Listing:
        if self.fail_next:
            raise self.fail_next.pop(0)
        if self.sku_budget <= 0:
            raise RateLimited("Back Market's SKU update budget is used up", status=429)
        listing = self.listings.get(str(listing_ref))
        if listing is None:
            raise NotFound(f"listing {listing_ref} not found")
        self.sku_budget -= 1
        self.updates.append((str(listing_ref), quantity, pub_state))
        if quantity is not None:
            listing.quantity = quantity
            if quantity == 0:
                listing.publication_state = 3
        if pub_state is not None:
            listing.publication_state = pub_state
        return listing

    def sku_updates_remaining(self) -> int:
        return self.sku_budget

    def requests_remaining(self) -> int:
        return 180

    def hold_sku_updates(self, count: int, *, keep: int) -> bool:
        return self.sku_budget - count >= keep
