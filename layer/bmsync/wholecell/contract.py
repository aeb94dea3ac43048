"""The WholeCell contract as bmsync infers it: paths, filters, field names, confirmed vs inferred.

WholeCell's API reference could not be read (docs/wholecell.md): the paging envelope, Basic auth, the
inventory filters and the inventory item are confirmed by its help centre and working public clients;
the paths, parameter names and bodies below for stock levels, variations, statuses, customers and
sales orders are the smallest shapes consistent with what is public (*inferred*). Everything the client
sends or reads by name comes from here (the models name their fields as bmsync means them; ``WIRE_NAMES``
says where the wire calls one otherwise), so correcting the contract once ``bmsync probe`` shows the real
one is an edit of this file.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

# --- confirmed: envelope and paging
PAGE_PARAM = "page"
PAGE_SIZE = 100
ENVELOPE_DATA = "data"
ENVELOPE_PAGE = "page"
ENVELOPE_PAGES = "pages"

# --- confirmed: authentication (HTTP Basic of App ID and App Secret, plus an optional X-App-Id)
APP_ID_HEADER = "X-App-Id"

# --- paths (inventories confirmed, the rest adopted)
INVENTORIES = "/inventories"
STOCK_LEVELS = "/stock_levels"
PRODUCT_VARIATIONS = "/product_variations"
SALES_ORDER_STATUSES = "/sales_order_statuses"
CUSTOMERS = "/customers"
SALES_ORDERS = "/sales_orders"


def sales_order_path(order_id: int) -> str:
    return f"{SALES_ORDERS}/{int(order_id)}"


@dataclass(frozen=True)
class Endpoint:
    """One list bmsync reads: whether public sources confirm it, and the filters bmsync relies on."""

    path: str
    confirmed: bool
    filters: tuple[str, ...] = ()


#: Every list bmsync reads, in the order ``bmsync probe`` checks them (the confirmed one first).
ENDPOINTS = (
    Endpoint(INVENTORIES, confirmed=True, filters=("status", "updated_at_gt")),
    Endpoint(PRODUCT_VARIATIONS, confirmed=False, filters=("sku",)),
    Endpoint(SALES_ORDER_STATUSES, confirmed=False),
    Endpoint(CUSTOMERS, confirmed=False, filters=("name",)),
    Endpoint(SALES_ORDERS, confirmed=False, filters=("status", "updated_at_gt")),
    Endpoint(STOCK_LEVELS, confirmed=False),
)
UNADVERTISED_ENDPOINTS = tuple(endpoint.path for endpoint in ENDPOINTS if not endpoint.confirmed)


# --- query parameter names
INVENTORY_FILTERS = ("status", "esn", "location", "updated_at_gt")  # confirmed
STOCK_LEVEL_STATUSES_PARAM = "inventory_statuses[]"
VARIATION_SKU_PARAM = "sku"
CUSTOMER_NAME_PARAM = "name"
SALES_ORDER_FILTERS = ("channel", "status", "updated_at_gt")
EXTERNAL_ID_PARAM = "external_id"
#: The channel WholeCell's own Back Market integration files its orders under (and bmsync too).
BACKMARKET_CHANNEL = "Backmarket"

# --- field names: the models (``bmsync.wholecell.models``) name fields as bmsync means them; where the
# wire calls one otherwise, say so here, per model: ``{"InventoryUnit": {"updated_at": "modified_at"}}``.
WIRE_NAMES: dict[str, dict[str, str]] = {}
#: A condition is a title string, or (one public client types it so) an object carrying the title here.
CONDITION_TITLE_KEY = "title"

# --- error bodies: 401/404 ``{"error": "..."}``, 422 ``{"errors": {"field": ["message"]}}``
ERROR_MESSAGE_KEY = "error"
VALIDATION_ERRORS_KEY = "errors"


def basic_authorization(app_id: str, app_secret: str) -> str:
    token = base64.b64encode(f"{app_id}:{app_secret}".encode()).decode("ascii")
    return f"Basic {token}"


def timestamp_param(moment: datetime) -> str:
    """``updated_at_gt`` as ISO-8601 with offset and milliseconds, the way WholeCell writes times."""
    return moment.isoformat(timespec="milliseconds")


def query(**filters: Any) -> dict[str, Any]:
    """Drop the filters that are not set (the API ignores unknown or empty ones anyway)."""
    return {
        name: timestamp_param(value) if isinstance(value, datetime) else value
        for name, value in filters.items()
        if value is not None
    }


def create_customer_body(name: str) -> dict[str, Any]:
    return {"name": name}


def wire_name(model: str, field: str) -> str:
    return WIRE_NAMES.get(model, {}).get(field, field)


def from_wire(model: str, item: Any) -> Any:
    """A wire object with the model's field names (``WIRE_NAMES`` read backwards)."""
    renames = WIRE_NAMES.get(model)
    if not renames or not isinstance(item, dict):
        return item
    named = dict(item)
    for field, wire in renames.items():
        if wire in named and field not in named:
            named[field] = named.pop(wire)
    return named


def sales_order_body(order: BaseModel) -> dict[str, Any]:
    """``POST /sales_orders``: the fields of ``SalesOrderCreate`` under their wire names, unset ones out."""
    body = order.model_dump(mode="json", exclude_none=True)
    return {wire_name(type(order).__name__, field): value for field, value in body.items()}


def update_status_body(status: str) -> dict[str, Any]:
    return {"status": status}


def page_items(body: Any) -> tuple[list[Any], int, int]:
    """The items, page number and page count of one envelope page; raises ``ValueError`` if it is none."""
    if not isinstance(body, dict) or not isinstance(body.get(ENVELOPE_DATA), list):
        raise ValueError("not a WholeCell list envelope")
    page = int(body.get(ENVELOPE_PAGE) or 1)
    pages = int(body.get(ENVELOPE_PAGES) or 0)
    return body[ENVELOPE_DATA], page, pages


def single_item(body: Any) -> dict[str, Any]:
    """A single resource: the object itself, or wrapped in ``data`` (both seen in public clients)."""
    if isinstance(body, dict) and isinstance(body.get(ENVELOPE_DATA), dict):
        return dict(body[ENVELOPE_DATA])
    if isinstance(body, dict):
        return body
    raise ValueError("not a WholeCell object")
