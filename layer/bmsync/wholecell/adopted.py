"""Every WholeCell wire shape bmsync *adopted* where nothing public shows the real one.

WholeCell's API reference could not be read (docs/wholecell.md): the paging envelope, Basic auth, the
inventory filters and the inventory item are confirmed by its help centre and working public clients;
the paths, parameter names and bodies below for stock levels, variations, statuses, customers and
sales orders are the smallest shapes consistent with what is public. Everything the client sends or
reads by name comes from here, so correcting a shape once a customer's API access shows the real one is
one edit.
"""

from __future__ import annotations

import base64
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


# --- query parameter names
INVENTORY_FILTERS = ("status", "esn", "location", "updated_at_gt")  # confirmed
STOCK_LEVEL_STATUSES_PARAM = "inventory_statuses[]"
VARIATION_SKU_PARAM = "sku"
CUSTOMER_NAME_PARAM = "name"
SALES_ORDER_FILTERS = ("channel", "status", "updated_at_gt")
EXTERNAL_ID_PARAM = "external_id"

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


def sales_order_body(order: BaseModel) -> dict[str, Any]:
    """``POST /sales_orders``: the fields of ``SalesOrderCreate`` as they are, unset ones left out."""
    return order.model_dump(mode="json", exclude_none=True)


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
