"""Reading WholeCell where its API differs from the contract bmsync infers: quarantine and fallbacks.

- An item of a list bmsync cannot read is left out by the client (``on_malformed``);
  :func:`quarantine_alerts` turns each into an alert naming the record and the field, so the rest of
  the page and of the run go on.
- An endpoint no public source advertises (``contract.ENDPOINTS``) may be missing (404): prefer it
  while it answers, fall back where there is a way, and say in an alert what is missing and what it
  costs (``bmsync.alerts.MISSING_ENDPOINT_COSTS``); the alert clears when the endpoint answers again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from bmsync.alerts import (
    WHOLECELL_ITEM_QUARANTINED,
    AlertStore,
    clear_endpoint_missing,
    raise_endpoint_missing,
)
from bmsync.settings import Settings
from bmsync.sync.ports import WholeCellInventory
from bmsync.wholecell import contract
from bmsync.wholecell.client import MalformedItem, MalformedSink
from bmsync.wholecell.errors import EndpointMissing

T = TypeVar("T")

#: What a person calls a record of each list.
RECORD_NAMES = {
    contract.INVENTORIES: "unit",
    contract.PRODUCT_VARIATIONS: "product variation",
    contract.SALES_ORDERS: "sales order",
    contract.SALES_ORDER_STATUSES: "sales-order status",
    contract.CUSTOMERS: "customer",
    contract.STOCK_LEVELS: "stock level",
}


def quarantine_alerts(state: AlertStore) -> MalformedSink:
    """The client's ``on_malformed``: one alert per unreadable record, naming it and its fields."""

    def raise_alert(item: MalformedItem) -> None:
        WHOLECELL_ITEM_QUARANTINED.raise_on(
            state,
            kind=RECORD_NAMES.get(item.path, "record"),
            item_id=item.item_id,
            fields=", ".join(dict.fromkeys(item.fields)),
            problems="; ".join(dict.fromkeys(item.problems)),
        )

    return raise_alert


def read_or_fallback(
    state: AlertStore,
    path: str,
    read: Callable[[], T],
    fallback: Callable[[], T],
    *,
    missing: set[str] | None = None,
    **details: str,
) -> T:
    """``read()``; if WholeCell has no ``path``, an alert saying what it costs and ``fallback()``.

    ``missing``: the paths known missing since an earlier run, updated here; with it the alert is
    raised and cleared only when that changes (an every-minute flow writes nothing while it holds).
    """
    try:
        value = read()
    except EndpointMissing:
        if missing is None or path not in missing:
            raise_endpoint_missing(state, path, **details)
        if missing is not None:
            missing.add(path)
        return fallback()
    if missing is None or path in missing:
        clear_endpoint_missing(state, path)
    if missing is not None:
        missing.discard(path)
    return value


def variations_or_derived(
    wholecell: WholeCellInventory, state: AlertStore, *, missing: set[str] | None = None
) -> list[Any]:
    """Every product variation: from ``/product_variations``, or, where it is missing, the distinct
    variations embedded in the units of the (confirmed) inventory list."""
    return read_or_fallback(
        state,
        contract.PRODUCT_VARIATIONS,
        lambda: list(wholecell.iter_product_variations()),
        lambda: list(variations_of_units(wholecell.iter_inventories())),
        missing=missing,
    )


def variations_of_units(units: Iterator[Any]) -> Iterator[Any]:
    seen: set[int] = set()
    for unit in units:
        variation = unit.product_variation
        if variation is not None and variation.id not in seen:
            seen.add(variation.id)
            yield variation


def open_statuses_or_setting(
    wholecell: WholeCellInventory, settings: Settings, state: AlertStore, *, missing: set[str] | None = None
) -> set[str]:
    """The titles of the open sales-order statuses: WholeCell's flags, or the setting where it has
    no ``/sales_order_statuses``."""
    configured = settings.open_order_statuses
    return read_or_fallback(
        state,
        contract.SALES_ORDER_STATUSES,
        lambda: {status.title for status in wholecell.list_sales_order_statuses() if status.is_open},
        lambda: set(configured),
        missing=missing,
        open_statuses=", ".join(configured) or "none",
    )
