"""WholeCell's resources as pydantic models: money in integer cents, times aware (ISO-8601 with offset).

Unknown fields are ignored (the real API carries more than bmsync reads). Catalogue text WholeCell
does not know is ``"Unknown"``; :class:`Product` turns it (and blanks) into ``None``. SKUs may be null.
Field names are bmsync's: where the wire names one otherwise, ``bmsync.wholecell.contract.WIRE_NAMES``
says so and every model reads it through that.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from bmsync.wholecell import contract

Cents = Annotated[int, Field(description="an amount in integer cents")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _wire_names(cls, data: Any) -> Any:
        return contract.from_wire(cls.__name__, data)


def _known(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in {"", "unknown"}:
        return None
    return value


class Product(_Model):
    id: int | None = None
    manufacturer: str | None = None
    model: str | None = None
    variant: str | None = None
    network: str | None = None
    capacity: str | None = None
    color: str | None = None

    @field_validator("manufacturer", "model", "variant", "network", "capacity", "color", mode="before")
    @classmethod
    def _unknown_is_none(cls, value: Any) -> Any:
        return _known(value)

    @property
    def name(self) -> str:
        parts = [self.manufacturer, self.model, self.variant, self.capacity, self.color, self.network]
        return " ".join(part for part in parts if part) or "Unknown product"


class ProductVariation(_Model):
    id: int
    sku: str | None = None
    grade: str | None = None
    conditions: list[str] = Field(default_factory=list)
    product: Product | None = None

    @field_validator("sku", mode="before")
    @classmethod
    def _blank_sku_is_none(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("conditions", mode="before")
    @classmethod
    def _condition_titles(cls, value: Any) -> Any:
        """Titles; an object naming its title as a string (``{id, title, initials}``) is read as it."""
        if value is None:
            return []
        if not isinstance(value, list):
            return value  # not a list: refused, the item is quarantined
        return [_condition_title(condition) for condition in value]


def _condition_title(condition: Any) -> Any:
    if isinstance(condition, dict):
        title = condition.get(contract.CONDITION_TITLE_KEY)
        return title if isinstance(title, str) and title.strip() else condition
    return condition


class NamedRef(_Model):
    """A warehouse or a location: ``{id, name}``."""

    id: int | None = None
    name: str


class InventoryUnit(_Model):
    """One serialized unit (``GET /inventories``)."""

    id: int
    esn: str | None = None
    hex_id: str | None = None
    status: str
    order_id: int | None = None
    purchase_order_id: int | None = None
    sale_price: Cents | None = None
    total_price_paid: Cents | None = None
    initial_price_paid: Cents | None = None
    product_variation: ProductVariation | None = None
    product: Product | None = None
    warehouse: NamedRef | None = None
    location: NamedRef | None = None
    custom_field_values: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @field_validator("custom_field_values", mode="before")
    @classmethod
    def _null_map(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def committed(self) -> bool:
        return self.order_id is not None


class StockLevel(_Model):
    sku: str | None = None
    on_hand: int
    outstanding: int
    available: int


class SalesOrderStatus(_Model):
    id: int
    title: str
    is_open: bool
    allow_commitment: bool
    sync_to_shipstation: bool


class Customer(_Model):
    id: int
    name: str


class WholeCellAddress(_Model):
    name: str | None = None
    street1: str | None = None
    street2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    phone: str | None = None


class OrderItem(_Model):
    """Demand on an order, not yet tied to units. ``product_variation_id`` is null when no variation
    has the item's SKU (nothing can be committed to it)."""

    id: int
    product_variation_id: int | None = None
    sku: str | None = None
    description: str | None = None
    quantity: int
    price: Cents


class CommittedUnit(_Model):
    """A unit committed to an order (its ``order_id`` is the order)."""

    id: int
    esn: str | None = None
    hex_id: str | None = None
    product_variation_id: int | None = None
    sale_price: Cents | None = None


class Shipment(_Model):
    id: int
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: AwareDatetime | None = None


class SalesOrder(_Model):
    id: int
    status: str
    channel: str | None = None
    external_id: str | None = None
    customer: Customer | None = None
    shipping_address: WholeCellAddress | None = None
    order_items: list[OrderItem] = Field(default_factory=list)
    inventories: list[CommittedUnit] = Field(default_factory=list)
    shipments: list[Shipment] = Field(default_factory=list)
    #: Free text; bmsync writes the Back Market order's currency and market here (no currency field).
    notes: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @field_validator("order_items", "inventories", "shipments", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value


class OrderItemCreate(_Model):
    """One item of a new order: a variation id or a SKU (or both), a positive quantity, a price in cents."""

    product_variation_id: int | None = None
    sku: str | None = None
    description: str = Field(default="", max_length=500)
    quantity: int = Field(gt=0)
    price: Cents = Field(ge=0)

    @model_validator(mode="after")
    def _names_a_variation_or_sku(self) -> OrderItemCreate:
        if self.product_variation_id is None and not (self.sku and self.sku.strip()):
            raise ValueError("an order item needs a product_variation_id or a sku")
        return self


class SalesOrderCreate(_Model):
    """The body of ``POST /sales_orders`` (adopted shape, see ``bmsync.wholecell.contract``)."""

    customer_id: int
    status: str = Field(min_length=1)
    channel: str = "Backmarket"
    external_id: str = Field(min_length=1, max_length=100)
    shipping_address: WholeCellAddress | None = None
    order_items: list[OrderItemCreate] = Field(min_length=1)
    #: The adopted contract has no currency field: the order's currency and market go here.
    notes: str | None = None
