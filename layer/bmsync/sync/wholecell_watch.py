"""wholecell_watch: WholeCell change capture (WholeCell has no webhooks).

Every minute it reads what changed in WholeCell since its cursors (``updated_at_gt`` on inventories and
on sales orders, re-reading a minute before them), applies what it had not seen yet to the stock
mirror's memory and writes a ``stock`` item only for the variations whose calculated quantity
changed; a minute in which nothing changed costs two small reads and no memory. Sales orders on the
``Backmarket`` channel go to shipment_export's ``capture_new_shipments``. A full reconciliation runs
on first start, whenever the available statuses or warehouses change, and every
``wholecell_reconcile_minutes``, to heal anything an incremental read missed. The cursors move only
after every write succeeded.

Where WholeCell differs from the contract (``bmsync.sync.wholecell_reading``): a unit or order it cannot
read is left out with an alert naming it and the field, and the run goes on; without
``/product_variations`` the variations come from the units, without ``/sales_order_statuses`` the open
statuses from the settings, without ``/sales_orders`` nothing is subtracted as outstanding — each with
an alert saying what it costs.

Rules of the mirror (WholeCell's own, see the reference):

- *available*: units of the variation in one of ``settings.available_statuses`` (and one of
  ``available_warehouses`` when any are set) that are not committed to a sales order;
- *outstanding*: per open sales order (status flagged *is open*, created in the last 90 days), the
  quantity of its items for the variation minus the units of that variation already committed to it;
- *calculated* = available - outstanding (may go negative; listings clamp at 0).

An order item that names only a SKU: WholeCell gives an item whose SKU matches a variation that
variation's id, so an item without one matches no variation and is demand for nothing. Should an item
carry a known SKU but no id, it counts against the lowest-id variation of that SKU: counted once, a
listing in *Match via SKU* mode (which sums every variation of the SKU) sees it exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bmsync import wholecell
from bmsync.catalog import by_name
from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.observability import logger
from bmsync.settings import Settings, settings_fingerprint
from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.orders_repo import OrdersRepository
from bmsync.store.stock_repo import MirrorEntry, StockItem, StockRepository, sku_key
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync.flow import connections_for, run_flow, run_summary, scheduled_event, start_invocation
from bmsync.sync.ports import (
    InventoryUnitLike,
    WholeCellInventory,
    WholeCellSalesOrder,
)
from bmsync.sync.shipment_export import capture_new_shipments
from bmsync.sync.wholecell_reading import open_statuses_or_setting, quarantine_alerts, read_or_fallback
from bmsync.wholecell import contract

FUNCTION = by_name("wholecell_watch")
FLOW = "wholecell_watch"
CURSOR_DOCUMENT = "wholecell_watch"
#: WholeCell counts open orders of the last 90 days as outstanding.
OUTSTANDING_WINDOW = timedelta(days=90)
#: Each incremental read starts this much before the cursor: a write that lands late on WholeCell's
#: side (or a small clock skew) is re-read; re-applying a change is harmless.
CURSOR_OVERLAP = timedelta(seconds=60)
#: How long a stock item written by another function (order_import reserves stock the moment it
#: imports an order) is left alone before the mirror corrects it: the order is in WholeCell by then.
RESERVATION_GRACE = timedelta(minutes=2)

#: Receives the sales orders that changed; returns how many order items it wrote.
ShipmentSink = Callable[[list[Any]], int]


def unit_counts(unit: InventoryUnitLike, settings: Settings) -> bool:
    """Whether a unit is available stock under the connection's settings."""
    if unit.order_id is not None or unit.product_variation is None:
        return False
    if unit.status not in settings.available_statuses:
        return False
    if settings.available_warehouses:
        return unit.warehouse is not None and unit.warehouse.name in settings.available_warehouses
    return True


def order_demands(
    order: WholeCellSalesOrder,
    open_statuses: set[str],
    variations_of_sku: dict[str, list[str]],
    now: datetime,
) -> dict[str, int]:
    """Variation id -> uncommitted quantity this order still wants (empty if it is not open)."""
    if order.status not in open_statuses or order.created_at < now - OUTSTANDING_WINDOW:
        return {}
    wanted: dict[str, int] = {}
    for item in order.order_items:
        if item.product_variation_id is not None:
            variation_id = str(item.product_variation_id)
        else:
            candidates = variations_of_sku.get(sku_key(item.sku) or "", [])
            if not candidates:
                continue  # matches no variation: demand for nothing (see the module's doc)
            variation_id = candidates[0]
        wanted[variation_id] = wanted.get(variation_id, 0) + max(0, item.quantity)
    for unit in order.inventories:
        variation_id = str(unit.product_variation_id)
        if variation_id in wanted:
            wanted[variation_id] -= 1
    return {variation_id: quantity for variation_id, quantity in wanted.items() if quantity > 0}


class Mirror:
    """The memory of every variation, changed in place by units and orders; knows what it changed."""

    def __init__(self, entries: dict[str, MirrorEntry]) -> None:
        self.entries = entries
        self.touched: set[str] = set()
        self._unit_home = {unit: entry.variation_id for entry in entries.values() for unit in entry.units}
        self._order_homes: dict[str, set[str]] = {}
        for entry in entries.values():
            for order_id in entry.demands:
                self._order_homes.setdefault(order_id, set()).add(entry.variation_id)

    def entry(self, variation_id: str, sku: str | None = None) -> MirrorEntry:
        entry = self.entries.get(variation_id)
        if entry is None:
            entry = self.entries[variation_id] = MirrorEntry(variation_id=variation_id, sku=sku)
            self.touched.add(variation_id)
        elif sku is not None and entry.sku != sku:
            entry.sku = sku
            self.touched.add(variation_id)
        return entry

    def variations_of_sku(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for entry in self.entries.values():
            key = sku_key(entry.sku)
            if key:
                found.setdefault(key, []).append(entry.variation_id)
        for ids in found.values():
            ids.sort(key=lambda variation_id: (len(variation_id), variation_id))  # numeric order
        return found

    def apply_unit(self, unit: InventoryUnitLike, settings: Settings) -> None:
        variation = unit.product_variation
        if variation is not None:
            self.entry(str(variation.id), variation.sku)  # a new variation, or its SKU changed
        counted_in = str(variation.id) if variation is not None and unit_counts(unit, settings) else None
        was_in = self._unit_home.get(unit.id)
        if counted_in == was_in:
            return  # re-read (the cursor's overlap) or a change that does not matter to the counts
        if was_in is not None:
            self.entries[was_in].units.discard(unit.id)
            self.touched.add(was_in)
            del self._unit_home[unit.id]
        if counted_in is not None:
            self.entries[counted_in].units.add(unit.id)
            self._unit_home[unit.id] = counted_in
            self.touched.add(counted_in)

    def apply_order(self, order_id: str, demands: dict[str, int]) -> None:
        for variation_id in self._order_homes.pop(order_id, set()) - set(demands):
            del self.entries[variation_id].demands[order_id]
            self.touched.add(variation_id)
        for variation_id, quantity in demands.items():
            entry = self.entry(variation_id)
            if entry.demands.get(order_id) != quantity:
                entry.demands[order_id] = quantity
                self.touched.add(variation_id)
        if demands:
            self._order_homes[order_id] = set(demands)


def _settings_key(settings: Settings) -> str:
    """What the mirror's meaning depends on: a change of it forces a full reconciliation."""
    return settings_fingerprint(settings, "stock_mirror")


def _quantity_key(settings: Settings) -> str:
    """The settings a listing's quantity depends on beyond the stock mirror."""
    return settings_fingerprint(settings, "listing_quantity")


def watch_wholecell(
    *,
    settings: Settings,
    wholecell: WholeCellInventory,
    stock: StockRepository,
    state: SyncStateRepository,
    clock: Clock,
    run: RunRecord,
    capture_shipments: ShipmentSink | None = None,
    listings: ListingsRepository | None = None,
) -> None:
    """One wholecell_watch run for one connection (the body of :func:`bmsync.sync.flow.run_flow`).

    With ``listings``, a change of the quantity settings (the sync switch, the safety buffer, the
    mapping mode) marks every listing, so quantity_sync re-evaluates them within the minute.
    """
    now = clock.now()
    cursors = state.get_document(CURSOR_DOCUMENT) or {}
    reconciled_at = cursors.get("reconciled_at")
    full = (
        not reconciled_at
        or cursors.get("settings_key") != _settings_key(settings)
        or parse_iso(reconciled_at) <= now - timedelta(minutes=settings.wholecell_reconcile_minutes)
    )
    # Endpoints found missing by earlier runs: their alerts change only when that changes.
    missing: set[str] = set(cursors.get("missing_endpoints") or [])
    open_statuses = open_statuses_or_setting(wholecell, settings, state, missing=missing)

    def sales_orders(since: datetime) -> list[WholeCellSalesOrder]:
        def read() -> list[WholeCellSalesOrder]:
            return list(wholecell.iter_sales_orders(updated_at_gt=since))

        return read_or_fallback(state, contract.SALES_ORDERS, read, list, missing=missing)

    stored = stock.all()
    checked: dict[str, str] = cursors.get("reservations_checked") or {}
    reservations = _reservations_due(stored, checked, now)
    seen_units: dict[str, str] = cursors.get("seen_units") or {}
    seen_orders: dict[str, str] = cursors.get("seen_orders") or {}

    if full:
        run.progress = "full reconciliation: reading WholeCell"
        mirror, latest_unit = _full_read(settings, wholecell, state, missing)
        units_read = sum(entry.available for entry in mirror.entries.values())
        orders = sales_orders(now - OUTSTANDING_WINDOW)
        # The cursors start from WholeCell's own clock where it showed it (ours may run ahead of it).
        unit_cursor = min(now, latest_unit or now)
        sales_cursor = min(now, max((order.updated_at for order in orders), default=now))
        units: list[InventoryUnitLike] = []
        seen_units = {}
        orders_read = len(orders)
    else:
        unit_cursor = parse_iso(cursors["inventories"])
        sales_cursor = parse_iso(cursors["sales_orders"])
        units_in_overlap = list(wholecell.iter_inventories(updated_at_gt=unit_cursor - CURSOR_OVERLAP))
        orders_in_overlap = sales_orders(sales_cursor - CURSOR_OVERLAP)
        units_read, orders_read = len(units_in_overlap), len(orders_in_overlap)
        # What the overlap re-reads unchanged was applied by an earlier run: only changes count.
        units = [unit for unit in units_in_overlap if not _already_seen(seen_units, unit)]
        orders = [order for order in orders_in_overlap if not _already_seen(seen_orders, order)]
        # An idle minute (nothing new, no reservation to check) needs no memory at all.
        mirror = Mirror(stock.load_mirror() if units or orders or reservations else {})
        for unit in units:
            mirror.apply_unit(unit, settings)
            unit_cursor = max(unit_cursor, unit.updated_at)
        for order in orders:
            sales_cursor = max(sales_cursor, order.updated_at)

    variations_of_sku = mirror.variations_of_sku()
    for order in orders:
        mirror.apply_order(str(order.id), order_demands(order, open_statuses, variations_of_sku, now))
    if full:
        # Rebuilt from scratch: what differs from the remembered memory is what changed.
        previous = stock.load_mirror()
        mirror.touched = {
            variation_id
            for variation_id, entry in mirror.entries.items()
            if previous.get(variation_id) != entry
        }

    changed = _write_changes(mirror, stored, reservations, stock, now, check_every_variation=full)
    shipments = capture_shipments(orders) if capture_shipments and orders else 0
    previous_quantity_key = cursors.get("quantity_key")
    listings_marked = 0
    if listings is not None and previous_quantity_key not in (None, _quantity_key(settings)):
        for listing in listings.all():
            listings.update_fields(
                listing.listing_id, {"settings_seen": _quantity_key(settings)}, writer=FLOW
            )
            listings_marked += 1

    document = {
        "inventories": utc_iso(unit_cursor),
        "sales_orders": utc_iso(sales_cursor),
        "reconciled_at": utc_iso(now) if full else reconciled_at,
        "settings_key": _settings_key(settings),
        "quantity_key": _quantity_key(settings),
        "seen_units": _seen_in_overlap(seen_units, units, unit_cursor),
        "seen_orders": _seen_in_overlap(seen_orders, orders, sales_cursor),
        "missing_endpoints": sorted(missing),
        # A reservation checked once is not checked (nor the memory loaded for it) again.
        "reservations_checked": {
            variation_id: stored[variation_id].as_of
            for variation_id in {*checked, *reservations}
            if variation_id in stored and stored[variation_id].last_writer != FLOW
        },
    }
    if document != cursors:  # an idle minute moves nothing: no write
        state.put_document(CURSOR_DOCUMENT, document)
    run.counts.update(
        {
            "full_reconciliation": int(full),
            "units_read": units_read,
            "units_changed": len(units),
            "sales_orders_read": orders_read,
            "sales_orders_changed": len(orders),
            "variations_changed": changed,
            "shipments_captured": shipments,
            "listings_marked_for_settings": listings_marked,
        }
    )
    run.progress = "full reconciliation done" if full else "incremental read done"
    logger.info("wholecell_watch run", extra={"connection_id": settings.connection_id, **run.counts})


def _full_read(
    settings: Settings, wholecell: WholeCellInventory, state: SyncStateRepository, missing: set[str]
) -> tuple[Mirror, datetime | None]:
    """Every variation and every unit of the available statuses; and the newest unit change seen.
    Without ``/product_variations`` the units of the available statuses name the variations (a
    variation with none of them is then unknown: ``bmsync.alerts.MISSING_ENDPOINT_COSTS``)."""
    mirror = Mirror({})
    latest: datetime | None = None
    for variation in read_or_fallback(
        state,
        contract.PRODUCT_VARIATIONS,
        lambda: list(wholecell.iter_product_variations()),
        list,
        missing=missing,
    ):
        mirror.entry(str(variation.id), variation.sku)
    for status in settings.available_statuses:
        unit: InventoryUnitLike
        for unit in wholecell.iter_inventories(status=status):
            mirror.apply_unit(unit, settings)
            latest = unit.updated_at if latest is None else max(latest, unit.updated_at)
    return mirror, latest


def _reservations_due(stored: dict[str, StockItem], checked: dict[str, str], now: datetime) -> set[str]:
    """Items another function lowered ahead of WholeCell (order_import's reservation), checked once
    WholeCell has had time to show the order: by then the mirror is the truth. ``checked`` holds the
    ``as_of`` of each reservation already checked (a new reservation changes it)."""
    return {
        variation_id
        for variation_id, item in stored.items()
        if item.last_writer != FLOW
        and parse_iso(item.as_of) <= now - RESERVATION_GRACE
        and checked.get(variation_id) != item.as_of
    }


def _already_seen(seen: dict[str, str], change: InventoryUnitLike | WholeCellSalesOrder) -> bool:
    return seen.get(str(change.id)) == change.updated_at.isoformat()


def _seen_in_overlap(
    seen: dict[str, str], changes: Sequence[InventoryUnitLike | WholeCellSalesOrder], cursor: datetime
) -> dict[str, str]:
    """The changes the next read's overlap will return again: remembered so it skips them."""
    since = cursor - CURSOR_OVERLAP
    merged = {**seen, **{str(change.id): change.updated_at.isoformat() for change in changes}}
    return {key: stamp for key, stamp in merged.items() if parse_iso(stamp) > since}


def _write_changes(
    mirror: Mirror,
    stored: dict[str, StockItem],
    reservations: set[str],
    stock: StockRepository,
    now: datetime,
    *,
    check_every_variation: bool,
) -> int:
    """Save the touched memory; write ``stock`` only where the calculated quantity (or SKU) changed.

    A full reconciliation compares every variation with its stock item, not only those whose memory
    changed: an item lowered ahead of WholeCell (order_import's reservation) for an order that never
    reached WholeCell is healed here; so is every reservation past its grace, at any run.
    """
    changed = 0
    variation_ids = set(mirror.entries) if check_every_variation else set(mirror.touched)
    variation_ids |= reservations & set(mirror.entries)
    for variation_id in sorted(variation_ids):
        entry = mirror.entries[variation_id]
        current = stored.get(variation_id)
        if current is None or current.calculated != entry.calculated or current.sku != entry.sku:
            stock.put(
                StockItem(
                    connection_id=stock.connection_id,
                    variation_id=variation_id,
                    sku=entry.sku,
                    available=entry.available,
                    outstanding=entry.outstanding,
                    calculated=entry.calculated,
                    as_of=utc_iso(now),
                    last_writer=FLOW,
                )
            )
            changed += 1
        if variation_id in mirror.touched:
            stock.save_mirror_entry(entry)
    return changed


# --- wiring and the entry point


@dataclass(frozen=True)
class WholeCellWatchWiring:
    """One connection's wholecell_watch collaborators, as in production."""

    settings: Settings
    wholecell: WholeCellInventory
    stock: StockRepository
    orders: OrdersRepository
    listings: ListingsRepository
    state: SyncStateRepository
    clock: Clock


def wire(settings: Settings, clock: Clock) -> WholeCellWatchWiring:
    state = SyncStateRepository(settings.connection_id, clock)
    return WholeCellWatchWiring(
        settings=settings,
        wholecell=wholecell.client_for(settings, clock, on_malformed=quarantine_alerts(state)),
        stock=StockRepository(settings.connection_id),
        orders=OrdersRepository(finished_retention=settings.finished_order_retention),
        listings=ListingsRepository(settings.connection_id),
        state=state,
        clock=clock,
    )


def run_connection(wired: WholeCellWatchWiring) -> RunRecord:
    """One connection's run: :func:`watch_wholecell` under the flow's lock; the sales orders that
    changed go to shipment_export's :func:`capture_new_shipments`."""

    def capture(changed: list[Any]) -> int:
        return capture_new_shipments(changed, settings=wired.settings, orders=wired.orders, clock=wired.clock)

    def body(run: RunRecord) -> None:
        watch_wholecell(
            settings=wired.settings,
            wholecell=wired.wholecell,
            stock=wired.stock,
            state=wired.state,
            clock=wired.clock,
            run=run,
            capture_shipments=capture,
            listings=wired.listings,
        )

    return run_flow(FLOW, wired.state, wired.clock, body, services=("wholecell",))


def handle(event: dict[str, Any], context: Any, clock: Clock) -> dict[str, Any]:
    """The wholecell_watch function: every minute, for every connection."""
    start_invocation(FUNCTION)
    scheduled = scheduled_event(event, FUNCTION)
    return run_summary(
        FUNCTION,
        (
            (settings.connection_id, run_connection(wire(settings, clock)))
            for settings in connections_for(scheduled, context)
        ),
    )
