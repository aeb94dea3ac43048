"""The shapes the inventory flows read from the two clients, as protocols.

They name exactly what listing_import, wholecell_watch and quantity_sync use of ``bmsync.backmarket``
and ``bmsync.wholecell``, so tests pass small fakes and the real pydantic models fit without adapters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

# --- WholeCell


class NamedRef(Protocol):
    @property
    def name(self) -> str: ...


class VariationRef(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def sku(self) -> str | None: ...


class InventoryUnitLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def order_id(self) -> int | None: ...
    @property
    def product_variation(self) -> VariationRef | None: ...
    @property
    def warehouse(self) -> NamedRef | None: ...
    @property
    def updated_at(self) -> datetime: ...


class OrderItemLike(Protocol):
    @property
    def product_variation_id(self) -> int | None: ...
    @property
    def sku(self) -> str | None: ...
    @property
    def quantity(self) -> int: ...


class CommittedUnitLike(Protocol):
    @property
    def product_variation_id(self) -> int | None: ...


class SalesOrderLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def order_items(self) -> Sequence[OrderItemLike]: ...
    @property
    def inventories(self) -> Sequence[CommittedUnitLike]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class SalesOrderStatusLike(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def is_open(self) -> bool: ...


class WholeCellInventory(Protocol):
    """What the inventory flows use of ``bmsync.wholecell.WholeCellClient``."""

    def iter_inventories(
        self,
        *,
        status: str | None = None,
        esn: str | None = None,
        location: str | None = None,
        updated_at_gt: datetime | None = None,
    ) -> Iterator[Any]: ...
    def iter_product_variations(self, *, sku: str | None = None) -> Iterator[Any]: ...
    def list_sales_order_statuses(self) -> Sequence[Any]: ...
    def iter_sales_orders(
        self, *, channel: str | None = None, status: str | None = None, updated_at_gt: datetime | None = None
    ) -> Iterator[Any]: ...


# --- Back Market


class ListingLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def listing_id(self) -> int | None: ...
    @property
    def sku(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def grade(self) -> str | None: ...
    @property
    def quantity(self) -> int: ...
    @property
    def publication_state(self) -> int | None: ...


class BackMarketListings(Protocol):
    """What the inventory flows use of ``bmsync.backmarket.BackMarketClient``."""

    def iter_listings(
        self,
        *,
        publication_state: int | None = None,
        min_quantity: int | None = None,
        max_quantity: int | None = None,
    ) -> Iterator[Any]: ...
    def update_listing(
        self,
        listing_ref: str | int,
        *,
        quantity: int | None = None,
        pub_state: int | None = None,
        **fields: Any,
    ) -> Any: ...
    def sku_updates_remaining(self) -> int: ...
    def requests_remaining(self) -> int: ...
