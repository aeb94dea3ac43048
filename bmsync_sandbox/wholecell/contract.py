"""The WholeCell contract as the sandbox serves it: paths, filters, field names, bodies.

Mirror of ``bmsync.wholecell.contract`` (``layer/bmsync/wholecell/contract.py``, docs/wholecell.md): the
envelope, Basic auth, the inventory filters and the inventory item are confirmed; the paths and
shapes of stock levels, variations, statuses, customers and sales orders are inferred. The account
(``bmsync_sandbox.wholecell.account``) holds plain records; everything about how they look on the wire
is here, so correcting the contract after a probe is an edit of this file (and of the client's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bmsync_sandbox.wholecell.account import (
        Customer,
        Order,
        Product,
        Shipment,
        Unit,
        Variation,
        WholeCellAccount,
    )

API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/_sandbox"
PAGE_SIZE = 100
APP_ID_HEADER = "X-App-Id"

#: WholeCell writes times with the account's offset and milliseconds (``2025-11-13T11:42:47.674-05:00``).
ACCOUNT_TIMEZONE = timezone(timedelta(hours=-5))

# Paths (under API_PREFIX): the inventory list is confirmed, every other one inferred.
INVENTORIES = "/inventories"
STOCK_LEVELS = "/stock_levels"
PRODUCT_VARIATIONS = "/product_variations"
SALES_ORDER_STATUSES = "/sales_order_statuses"
CUSTOMERS = "/customers"
SALES_ORDERS = "/sales_orders"
#: The paths no public source advertises (``absent_endpoints`` may remove them, see README.md).
UNADVERTISED_ENDPOINTS = (STOCK_LEVELS, PRODUCT_VARIATIONS, SALES_ORDER_STATUSES, CUSTOMERS, SALES_ORDERS)

# Query parameters each list honours; every other parameter is ignored, as the real API does.
INVENTORY_FILTERS = ("status", "esn", "location", "updated_at_gt")
SALES_ORDER_FILTERS = ("channel", "status", "updated_at_gt")
VARIATION_FILTERS = ("sku",)
CUSTOMER_FILTERS = ("name",)
STOCK_LEVEL_STATUSES_PARAM = "inventory_statuses[]"


def wire_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(ACCOUNT_TIMEZONE).isoformat(timespec="milliseconds")


def envelope(
    items: Sequence[Any], page: int, serialize: Callable[[Any], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One page of the confirmed envelope; past the end ``data`` is empty. Only that page is
    serialized, so paging through thousands of units stays cheap."""
    pages = max(1, math.ceil(len(items) / PAGE_SIZE))
    start = (page - 1) * PAGE_SIZE
    chosen = items[start : start + PAGE_SIZE]
    return {
        "data": [serialize(item) for item in chosen] if serialize else list(chosen),
        "page": page,
        "pages": pages,
    }


def error_body(message: str) -> dict[str, Any]:
    return {"error": message}


def validation_body(fields: dict[str, list[str]]) -> dict[str, Any]:
    return {"errors": fields}


def product_json(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "manufacturer": product.manufacturer,
        "model": product.model,
        "variant": product.variant,
        "network": product.network,
        "capacity": product.capacity,
        "color": product.color,
    }


def variation_json(account: WholeCellAccount, variation: Variation) -> dict[str, Any]:
    return {
        "id": variation.id,
        "sku": variation.sku,
        "grade": variation.grade,
        "conditions": list(variation.conditions),
        "product": product_json(account.products[variation.product_id]),
    }


def unit_json(account: WholeCellAccount, unit: Unit) -> dict[str, Any]:
    variation = account.variations[unit.variation_id]
    warehouse = account.warehouses[unit.warehouse_id]
    location = account.locations.get(unit.location_id) if unit.location_id is not None else None
    return {
        "id": unit.id,
        "esn": unit.esn,
        "hex_id": unit.hex_id,
        "status": unit.status,
        "order_id": unit.order_id,
        "purchase_order_id": unit.purchase_order_id,
        "sale_price": unit.sale_price,
        "total_price_paid": unit.total_price_paid,
        "initial_price_paid": unit.initial_price_paid,
        "product_variation": variation_json(account, variation),
        "product": product_json(account.products[variation.product_id]),
        "warehouse": {"id": warehouse.id, "name": warehouse.name},
        "location": {"id": location.id, "name": location.name} if location else None,
        "custom_field_values": dict(unit.custom_field_values),
        "created_at": wire_time(unit.created_at),
        "updated_at": wire_time(unit.updated_at),
    }


def customer_json(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "name": customer.name}


def shipment_json(shipment: Shipment) -> dict[str, Any]:
    return {
        "id": shipment.id,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "shipped_at": wire_time(shipment.shipped_at),
    }


def order_json(account: WholeCellAccount, order: Order) -> dict[str, Any]:
    committed = [unit for unit in account.units.values() if unit.order_id == order.id]
    return {
        "id": order.id,
        "status": order.status,
        "channel": order.channel,
        "external_id": order.external_id,
        "customer": customer_json(account.customers[order.customer_id]),
        "shipping_address": dict(order.shipping_address) if order.shipping_address else None,
        "order_items": [
            {
                "id": item.id,
                "product_variation_id": item.variation_id,
                "sku": item.sku,
                "description": item.description,
                "quantity": item.quantity,
                "price": item.price,
            }
            for item in order.items
        ],
        "inventories": [
            {
                "id": unit.id,
                "esn": unit.esn,
                "hex_id": unit.hex_id,
                "product_variation_id": unit.variation_id,
                "sale_price": unit.sale_price,
            }
            for unit in sorted(committed, key=lambda unit: unit.id)
        ],
        "shipments": [shipment_json(shipment) for shipment in order.shipments],
        "notes": order.notes,
        "created_at": wire_time(order.created_at),
        "updated_at": wire_time(order.updated_at),
    }


def sales_order_create_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The adopted ``POST /sales_orders`` body, as the account's ``create_sales_order`` arguments."""
    return {
        "customer_id": body.get("customer_id"),
        "status": body.get("status"),
        "channel": body.get("channel"),
        "external_id": body.get("external_id"),
        "shipping_address": body.get("shipping_address"),
        "order_items": body.get("order_items"),
        "notes": body.get("notes"),
    }
