"""What the admin reads live from WholeCell: product variations to choose from ("⚠ Product not set!"),
the account's sales-order statuses (for the order status mapping) and one sales order (an order a
person says is in WholeCell)."""

from __future__ import annotations

from pydantic import BaseModel

from bmsync.clock import Clock
from bmsync.settings import Settings
from bmsync.sync.ports import WholeCellSalesOrder


class VariationChoice(BaseModel):
    id: str
    sku: str | None
    label: str


def wholecell_variations(settings: Settings, clock: Clock) -> list[VariationChoice]:
    from bmsync.wholecell import client_for

    choices: list[VariationChoice] = []
    for variation in client_for(settings, clock).iter_product_variations():
        product = variation.product
        name = " ".join(
            part
            for part in (
                product.manufacturer if product else None,
                product.model if product else None,
                product.capacity if product else None,
                variation.grade,
                ", ".join(variation.conditions) or None,
            )
            if part
        )
        choices.append(
            VariationChoice(id=str(variation.id), sku=variation.sku, label=name or f"#{variation.id}")
        )
    return choices


def matching(choices: list[VariationChoice], query: str) -> list[VariationChoice]:
    wanted = query.strip().lower()
    if not wanted:
        return choices
    return [
        choice for choice in choices if wanted in f"{choice.id} {choice.sku or ''} {choice.label}".lower()
    ]


def wholecell_order_statuses(settings: Settings, clock: Clock) -> list[str]:
    from bmsync.wholecell import client_for

    return [status.title for status in client_for(settings, clock).list_sales_order_statuses()]


def wholecell_sales_order(settings: Settings, clock: Clock, order_id: int) -> WholeCellSalesOrder:
    from bmsync.wholecell import client_for

    return client_for(settings, clock).get_sales_order(order_id)
