"""wholecell_watch: WholeCell change capture (WholeCell has no webhooks).

Twice a minute (each slot's run and its rerun 30 s later) it reads what changed in WholeCell since
its cursors (``updated_at_gt`` on inventories and on sales orders, re-reading a minute before them),
applies what it had not seen yet to the stock mirror's memory and writes a ``stock`` item only for
the variations whose calculated quantity changed; a run in which nothing changed costs two small
reads and no memory. Sales orders on the
``Backmarket`` channel go to shipment_export's ``capture_new_shipments``. A full reconciliation runs
on first start, whenever the available statuses or warehouses change, and every
``wholecell_reconcile_minutes``, to heal anything an incremental read missed. The cursors move only
after every write succeeded. A cursor the overlap keeps re-reading at (a bulk of units stamped in one
second, then quiet) moves on with WholeCell's clock, as far as the stamps seen show it
(``_clock_offset``).

A reconciliation is a job over several runs (:class:`Reconciliation`): each run does its incremental
read first, then reads the next chunk of WholeCell's lists within a :class:`ChunkBudget` (pages, and
time before the run's next minute or its timeout), applies each page to the memory, writes what
changed, keeps the ids it saw (``SEEN_DOCUMENT_PREFIX``) and only then moves the pass's page cursor.
Units and open orders are taken for gone only once the last page is read, if neither the pass nor an
incremental read since it started saw them. No ``stock`` item is written before a first pass completes.

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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bmsync import wholecell
from bmsync.catalog import by_name
from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.errors import IntegrationError
from bmsync.events import ScheduledEvent
from bmsync.observability import logger
from bmsync.settings import Settings, settings_fingerprint
from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.orders_repo import OrdersRepository
from bmsync.store.stock_repo import MirrorEntry, StockItem, StockRepository, sku_key
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync.flow import (
    connections_for,
    handle_scheduled,
    request_reruns,
    run_flow,
    run_summary,
    time_left,
)
from bmsync.sync.ports import (
    InventoryUnitLike,
    ListPageLike,
    WholeCellPagedInventory,
    WholeCellSalesOrder,
)
from bmsync.sync.shipment_export import capture_new_shipments, linked_by_hand
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
#: At most this many changes of the overlap are remembered per list. A bulk change in WholeCell (thousands
#: of units stamped in one second) would otherwise make the cursor document larger than DynamoDB's 400 KB
#: item limit and wedge every run; a change not remembered is only applied again (no write: nothing changed).
SEEN_IN_OVERLAP_LIMIT = 2_000
#: How long a stock item written by another function (order_import reserves stock the moment it
#: imports an order) is left alone before the mirror corrects it: the order is in WholeCell by then.
RESERVATION_GRACE = timedelta(minutes=2)

#: A reconciliation reads at most this many pages a run...
RECONCILE_PAGES_PER_RUN = 60
#: ...for at most this long: the run must end before the next minute's, which would otherwise find
#: the lock held and skip its incremental read (60 pages at WholeCell's 2 requests a second: 30 s).
RECONCILE_SECONDS_PER_RUN = 35.0
#: Left unread before the function's timeout: the chunk's writes, then the cursor's.
RECONCILE_WRITE_RESERVE_SECONDS = 20.0
#: On the very first run the cursors start at WholeCell's newest change seen (its clock may be behind
#: ours), but no earlier than this.
FIRST_CURSOR_LOOKBACK = timedelta(minutes=15)
#: The lists a reconciliation reads, in order (units: one list per available status).
VARIATIONS_ENDPOINT = "product_variations"
UNITS_ENDPOINT = "inventories:"
SALES_ORDERS_ENDPOINT = "sales_orders"
#: ``sync_state`` documents holding what each run of a reconciliation under way saw.
SEEN_DOCUMENT_PREFIX = "wholecell_reconcile_seen#"

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

    def forget_unseen(self, *, units: set[int], orders: set[str]) -> tuple[int, int]:
        """A completed reconciliation's last step: the units and open orders it did not see (nor an
        incremental read since it started) are gone. How many of each were dropped."""
        units_gone = [unit for unit in self._unit_home if unit not in units]
        for unit in units_gone:
            variation_id = self._unit_home.pop(unit)
            self.entries[variation_id].units.discard(unit)
            self.touched.add(variation_id)
        orders_gone = [order_id for order_id in self._order_homes if order_id not in orders]
        for order_id in orders_gone:
            self.apply_order(order_id, {})
        return len(units_gone), len(orders_gone)

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


@dataclass(frozen=True)
class ChunkBudget:
    """How much of a run a reconciliation may spend: pages, and seconds on the run's clock."""

    pages: int = RECONCILE_PAGES_PER_RUN
    seconds: float = RECONCILE_SECONDS_PER_RUN

    @classmethod
    def for_invocation(cls, context: Any) -> ChunkBudget:
        """The default budget, cut so the chunk's writes still fit before the function's timeout."""
        remaining = time_left(context)
        if remaining is None:
            return cls()
        left = remaining() - RECONCILE_WRITE_RESERVE_SECONDS
        return cls(seconds=max(0.0, min(RECONCILE_SECONDS_PER_RUN, left)))


def watch_wholecell(
    *,
    settings: Settings,
    wholecell: WholeCellPagedInventory,
    stock: StockRepository,
    state: SyncStateRepository,
    clock: Clock,
    run: RunRecord,
    capture_shipments: ShipmentSink | None = None,
    listings: ListingsRepository | None = None,
    budget: ChunkBudget | None = None,
    incremental_only: bool = False,
) -> None:
    """One wholecell_watch run for one connection (the body of :func:`bmsync.sync.flow.run_flow`).

    First the incremental read (stock changes never wait behind a reconciliation), then, while a
    reconciliation is due or under way, its next chunk within ``budget``. With ``listings``, a change
    of the quantity settings (the sync switch, the safety buffer, the mapping mode) marks every
    listing, so quantity_sync re-evaluates them within the minute.

    ``incremental_only`` (the rerun half a minute after a slot): the incremental read alone, and
    nothing while a reconciliation is due or under way. WholeCell allows about 2 requests a second
    per account, shared by every function: a chunk (up to 60 pages) in each rerun too would take
    nearly all of it, while an incremental read costs two small requests. During a pass the rerun
    stands aside: its changes would have to be observations of the pass (what a chunk's run keeps),
    and the slot's runs read them within the minute as before.
    """
    now = clock.now()
    deadline = clock.monotonic() + (budget or ChunkBudget()).seconds
    cursors = state.get_document(CURSOR_DOCUMENT) or {}
    if incremental_only and Reconciliation.due(cursors, settings, now) is not None:
        run.progress = "rerun stood aside: a reconciliation is due or under way"
        run.counts["reconciliation_under_way"] = 1
        return
    # Endpoints found missing by earlier runs: their alerts change only when that changes.
    missing: set[str] = set(cursors.get("missing_endpoints") or [])
    open_statuses = open_statuses_or_setting(wholecell, settings, state, missing=missing)
    reconciliation = Reconciliation.due(cursors, settings, now)
    if reconciliation is not None and reconciliation.fresh:
        # What an earlier pass saw is no observation of this one (a pass left by settings that no
        # longer hold, or a completed pass's leftovers if its run died before deleting them).
        _delete_seen(state)

    def sales_orders(since: datetime) -> list[WholeCellSalesOrder]:
        def read() -> list[WholeCellSalesOrder]:
            return list(wholecell.iter_sales_orders(updated_at_gt=since))

        return read_or_fallback(state, contract.SALES_ORDERS, read, list, missing=missing)

    stored = stock.all()
    checked: dict[str, str] = cursors.get("reservations_checked") or {}
    reservations = _reservations_due(stored, checked, now)
    seen_units: dict[str, str] = cursors.get("seen_units") or {}
    seen_orders: dict[str, str] = cursors.get("seen_orders") or {}

    first_start = "inventories" not in cursors
    units: list[InventoryUnitLike] = []
    orders: list[WholeCellSalesOrder] = []
    units_read = orders_read = 0
    units_in_overlap: list[InventoryUnitLike] = []
    orders_in_overlap: list[WholeCellSalesOrder] = []
    unit_cursor = sales_cursor = now
    if not first_start:
        unit_cursor = parse_iso(cursors["inventories"])
        sales_cursor = parse_iso(cursors["sales_orders"])
        units_in_overlap = list(wholecell.iter_inventories(updated_at_gt=unit_cursor - CURSOR_OVERLAP))
        orders_in_overlap = sales_orders(sales_cursor - CURSOR_OVERLAP)
        units_read, orders_read = len(units_in_overlap), len(orders_in_overlap)
        # What the overlap re-reads unchanged was applied by an earlier run: only changes count.
        units = [unit for unit in units_in_overlap if not _already_seen(seen_units, unit)]
        orders = [order for order in orders_in_overlap if not _already_seen(seen_orders, order)]
    # An idle minute (nothing new, no reservation to check, no reconciliation) needs no memory at all.
    needs_memory = units or orders or reservations or reconciliation is not None
    mirror = Mirror(stock.load_mirror() if needs_memory else {})
    for unit in units:
        mirror.apply_unit(unit, settings)
        unit_cursor = max(unit_cursor, unit.updated_at)
    for order in orders:
        sales_cursor = max(sales_cursor, order.updated_at)
    variations_of_sku = mirror.variations_of_sku()
    for order in orders:
        mirror.apply_order(str(order.id), order_demands(order, open_statuses, variations_of_sku, now))

    chunk: Chunk | None = None
    if reconciliation is not None:
        run.progress = "reconciliation: " + reconciliation.position()
        reconciliation.note_changes(len(units))
        chunk = reconciliation.read_chunk(
            wholecell=wholecell,
            mirror=mirror,
            settings=settings,
            state=state,
            missing=missing,
            open_statuses=open_statuses,
            now=now,
            pages=(budget or ChunkBudget()).pages,
            time_left=lambda: deadline - clock.monotonic(),
        )
        units_read += len(chunk.units_seen)
        orders_read += len(chunk.orders)
        # Changes the incremental read applied are observations of this pass too.
        chunk.units_seen.update(unit.id for unit in units)
        chunk.orders_seen.update(str(order.id) for order in orders)
        if first_start:
            # The cursors start from WholeCell's own clock where it showed it (ours may run ahead of it).
            unit_cursor = _first_cursor(chunk.latest_unit, now)
            sales_cursor = _first_cursor(max((order.updated_at for order in chunk.orders), default=None), now)
    # What the reads showed of WholeCell's clock: a cursor the overlap re-reads something at moves
    # with that clock, past a bulk of changes stamped in one second (see :func:`_clock_offset`).
    stamps = [unit.updated_at for unit in units_in_overlap] + [
        order.updated_at for order in [*orders_in_overlap, *(chunk.orders if chunk else [])]
    ]
    if chunk is not None and chunk.latest_unit is not None:
        stamps.append(chunk.latest_unit)
    offset = _clock_offset(cursors.get("wholecell_clock_offset"), stamps, clock.now())
    if offset is not None and not first_start:
        # WholeCell's clock when this run's reads began: a change stamped later is past it, and the
        # next overlap re-reads it even if it landed on a page this read had already passed.
        wholecell_now = now + timedelta(seconds=offset)
        if units_in_overlap:
            unit_cursor = max(unit_cursor, wholecell_now)
        if orders_in_overlap:
            sales_cursor = max(sales_cursor, wholecell_now)
    completed = reconciliation is not None and reconciliation.finished
    gone = (0, 0)
    if completed and reconciliation is not None and chunk is not None:
        earlier = state.documents(SEEN_DOCUMENT_PREFIX)
        gone = mirror.forget_unseen(
            units={unit for document in earlier.values() for unit in document["units"]} | chunk.units_seen,
            orders={order for document in earlier.values() for order in document["orders"]}
            | chunk.orders_seen,
        )

    # Until a first pass completes there is no stock to correct: a half-read account would show every
    # listing too low (a variation whose units are on pages not read yet, at 0).
    first_pass = reconciliation is not None and not completed and not cursors.get("reconciled_at")
    changed = _write_changes(
        mirror, stored, reservations, stock, now, check_every_variation=completed, write_stock=not first_pass
    )
    captured = {str(order.id): order for order in [*(chunk.orders if chunk else []), *orders]}
    shipments = capture_shipments(list(captured.values())) if capture_shipments and captured else 0
    previous_quantity_key = cursors.get("quantity_key")
    listings_marked = 0
    if listings is not None and previous_quantity_key not in (None, _quantity_key(settings)):
        for listing in listings.all():
            listings.update_fields(
                listing.listing_id, {"settings_seen": _quantity_key(settings)}, writer=FLOW
            )
            listings_marked += 1
    if reconciliation is not None and chunk is not None and not completed and chunk.observed:
        reconciliation.save_seen(state, chunk)

    document = {
        "inventories": utc_iso(unit_cursor),
        "sales_orders": utc_iso(sales_cursor),
        "reconciled_at": utc_iso(now) if completed else cursors.get("reconciled_at"),
        "reconciliation": None if completed or reconciliation is None else reconciliation.state,
        "last_reconciliation": reconciliation.summary(now)
        if completed and reconciliation
        else (cursors.get("last_reconciliation")),
        "settings_key": _settings_key(settings),
        "quantity_key": _quantity_key(settings),
        "seen_units": _seen_in_overlap(seen_units, units, unit_cursor),
        "seen_orders": _seen_in_overlap(seen_orders, orders, sales_cursor),
        "wholecell_clock_offset": offset,
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
    if completed:
        _delete_seen(state)  # only once the cursor says the pass is over: it needed them until then
    run.counts.update(
        {
            "full_reconciliation": int(completed),
            "reconciliation_pages": chunk.pages_read if chunk else 0,
            "units_read": units_read,
            "units_changed": len(units),
            "units_gone": gone[0],
            "sales_orders_read": orders_read,
            "sales_orders_changed": len(orders),
            "variations_changed": changed,
            "shipments_captured": shipments,
            "listings_marked_for_settings": listings_marked,
        }
    )
    if reconciliation is None:
        run.progress = "incremental read done"
    elif completed:
        run.progress = f"reconciliation completed: {reconciliation.state['pages_read']} pages"
    else:
        run.progress = "reconciliation: " + reconciliation.position()
    logger.info("wholecell_watch run", extra={"connection_id": settings.connection_id, **run.counts})
    if chunk is not None and chunk.failure is not None:
        # The incremental read and the pages before the failure are saved; the run says what failed.
        raise chunk.failure


def _delete_seen(state: SyncStateRepository) -> None:
    for name in state.documents(SEEN_DOCUMENT_PREFIX):
        state.delete_document(name)


def _clock_offset(known: float | None, stamps: Sequence[datetime], read_end: datetime) -> float | None:
    """How far WholeCell's clock is at least ahead of ours, in seconds (negative: behind), never
    more than 0; None before any change was seen.

    A change WholeCell stamped was stamped by its clock before our ``read_end``: each stamp minus
    ``read_end`` is a lower bound of the difference, and the clocks tick alike, so the best bound so
    far holds for every later read. With it a cursor that stays at the newest change (thousands of
    units stamped in one second, then quiet) moves on as WholeCell's clock does; otherwise every
    read's overlap would re-read the whole bulk (20,000 units: 200 pages, longer than the run)."""
    offsets = [(stamp - read_end).total_seconds() for stamp in stamps]
    if known is not None:
        offsets.append(float(known))
    if not offsets:
        return None
    return min(0.0, max(offsets))


def _first_cursor(latest: datetime | None, now: datetime) -> datetime:
    """A cursor's start on the first run: WholeCell's newest change seen, never after our now, nor
    earlier than :data:`FIRST_CURSOR_LOOKBACK` (the first incremental read stays small)."""
    if latest is None:
        return now
    return max(min(now, latest), now - FIRST_CURSOR_LOOKBACK)


@dataclass
class Chunk:
    """What one run's part of a reconciliation read: the units and orders it saw (their ids), the
    sales orders themselves (for shipment capture), the newest unit change, and how many pages."""

    units_seen: set[int] = field(default_factory=set)
    orders_seen: set[str] = field(default_factory=set)
    orders: list[WholeCellSalesOrder] = field(default_factory=list)
    latest_unit: datetime | None = None
    pages_read: int = 0
    #: WholeCell's failure that ended the chunk (the pass resumes at that page next run).
    failure: IntegrationError | None = None

    @property
    def observed(self) -> bool:
        return bool(self.units_seen or self.orders_seen)


class Reconciliation:
    """A full re-read of WholeCell, as a job over several runs, resumable from ``state`` (stored in
    the cursor document; see the module's doc)."""

    def __init__(self, state: dict[str, Any], *, fresh: bool = False) -> None:
        self.state = state
        #: A pass that starts in this run.
        self.fresh = fresh

    @classmethod
    def due(cls, cursors: dict[str, Any], settings: Settings, now: datetime) -> Reconciliation | None:
        """The pass under way; or a new one when none ran yet, the settings that define the mirror
        changed (a pass under other settings starts over), or ``wholecell_reconcile_minutes`` passed."""
        key = _settings_key(settings)
        under_way = cursors.get("reconciliation")
        if under_way and under_way.get("settings_key") == key:
            return cls(dict(under_way))
        reconciled_at = cursors.get("reconciled_at")
        due = (
            bool(under_way)
            or not reconciled_at
            or cursors.get("settings_key") != key
            or parse_iso(reconciled_at) <= now - timedelta(minutes=settings.wholecell_reconcile_minutes)
        )
        if not due:
            return None
        endpoints = [
            VARIATIONS_ENDPOINT,
            *(f"{UNITS_ENDPOINT}{status}" for status in settings.available_statuses),
            SALES_ORDERS_ENDPOINT,
        ]
        return cls(
            {
                "started_at": utc_iso(now),
                "settings_key": key,
                "endpoints": endpoints,
                "endpoint": 0,
                "page": 1,
                "pages": None,
                "pages_read": 0,
                "runs": 0,
                "chunks": 0,
                "changes": 0,
                "page_size": 1,
            },
            fresh=True,
        )

    @property
    def finished(self) -> bool:
        return int(self.state["endpoint"]) >= len(self.state["endpoints"])

    def position(self) -> str:
        """ "page 57 of 173 (units in Available)", in words."""
        if self.finished:
            return "every page read"
        endpoint = self.state["endpoints"][self.state["endpoint"]]
        pages = self.state["pages"]
        return (
            f"page {self.state['page']}"
            + (f" of {pages}" if pages else "")
            + f" ({_endpoint_words(endpoint)})"
        )

    def summary(self, now: datetime) -> dict[str, Any]:
        return {
            "started_at": self.state["started_at"],
            "completed_at": utc_iso(now),
            "pages_read": self.state["pages_read"],
            "runs": self.state["runs"],
        }

    def read_chunk(
        self,
        *,
        wholecell: WholeCellPagedInventory,
        mirror: Mirror,
        settings: Settings,
        state: SyncStateRepository,
        missing: set[str],
        open_statuses: set[str],
        now: datetime,
        pages: int,
        time_left: Callable[[], float],
    ) -> Chunk:
        """Read pages, applying each to ``mirror``, while ``pages`` and ``time_left()`` allow.

        A resumed list starts back: units that left the pages already read (each one a change the
        incremental reads saw, :meth:`note_changes`) move the rest towards the front, and a unit must
        not slip past the boundary unread; one page more covers changes not seen yet. Re-reading is
        harmless."""
        chunk = Chunk()
        self.state["runs"] += 1
        first_page = True
        while not self.finished and chunk.pages_read < pages and time_left() > 0:
            endpoint = self.state["endpoints"][self.state["endpoint"]]
            page = int(self.state["page"])
            if first_page and page > 1:
                shifted = math.ceil(int(self.state["changes"]) / int(self.state["page_size"]))
                page = max(1, page - min(pages - 1, 1 + shifted))
            first_page = False
            try:
                listed = self._read_page(wholecell, state, endpoint, page, missing)
            except IntegrationError as error:
                # A page WholeCell keeps failing must not hold up the stock changes read before it.
                chunk.failure = error
                break
            chunk.pages_read += 1
            self.state["pages_read"] += 1
            self.state["changes"] = 0
            if listed is None:  # the endpoint is missing: its fallback (alerted) is nothing to read
                self._next_endpoint()
                continue
            self._apply(endpoint, listed.items, chunk, mirror, settings, open_statuses, now)
            if listed.last:
                self._next_endpoint()
            else:
                self.state.update(page=page + 1, pages=listed.pages)
                self.state["page_size"] = max(int(self.state["page_size"]), len(listed.items))
        return chunk

    def note_changes(self, units: int) -> None:
        """``units`` changed since the last page read: as many may have left the pages read."""
        self.state["changes"] = int(self.state["changes"]) + units

    def save_seen(self, state: SyncStateRepository, chunk: Chunk) -> None:
        """What this run saw, kept until the pass completes (only then is the unseen gone)."""
        state.put_document(
            f"{SEEN_DOCUMENT_PREFIX}{self.state['chunks']}",
            {"units": sorted(chunk.units_seen), "orders": sorted(chunk.orders_seen)},
        )
        self.state["chunks"] += 1

    def _next_endpoint(self) -> None:
        self.state.update(endpoint=int(self.state["endpoint"]) + 1, page=1, pages=None)

    def _read_page(
        self,
        wholecell: WholeCellPagedInventory,
        state: SyncStateRepository,
        endpoint: str,
        page: int,
        missing: set[str],
    ) -> ListPageLike | None:
        if endpoint == VARIATIONS_ENDPOINT:
            return read_or_fallback(
                state,
                contract.PRODUCT_VARIATIONS,
                lambda: wholecell.product_variation_page(page=page),
                lambda: None,
                missing=missing,
            )
        if endpoint == SALES_ORDERS_ENDPOINT:
            since = parse_iso(self.state["started_at"]) - OUTSTANDING_WINDOW
            return read_or_fallback(
                state,
                contract.SALES_ORDERS,
                lambda: wholecell.sales_order_page(page=page, updated_at_gt=since),
                lambda: None,
                missing=missing,
            )
        return wholecell.inventory_page(page=page, status=endpoint.removeprefix(UNITS_ENDPOINT))

    @staticmethod
    def _apply(
        endpoint: str,
        items: Sequence[Any],
        chunk: Chunk,
        mirror: Mirror,
        settings: Settings,
        open_statuses: set[str],
        now: datetime,
    ) -> None:
        if endpoint == VARIATIONS_ENDPOINT:
            for variation in items:
                mirror.entry(str(variation.id), variation.sku)
        elif endpoint == SALES_ORDERS_ENDPOINT:
            variations_of_sku = mirror.variations_of_sku()
            for order in items:
                mirror.apply_order(str(order.id), order_demands(order, open_statuses, variations_of_sku, now))
                chunk.orders_seen.add(str(order.id))
                chunk.orders.append(order)
        else:
            for unit in items:
                mirror.apply_unit(unit, settings)
                chunk.units_seen.add(unit.id)
                latest = chunk.latest_unit
                chunk.latest_unit = unit.updated_at if latest is None else max(latest, unit.updated_at)


def _endpoint_words(endpoint: str) -> str:
    if endpoint == VARIATIONS_ENDPOINT:
        return "product variations"
    if endpoint == SALES_ORDERS_ENDPOINT:
        return "sales orders"
    return f"units in {endpoint.removeprefix(UNITS_ENDPOINT)}"


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
    kept = sorted(
        ((parse_iso(stamp), key, stamp) for key, stamp in merged.items() if parse_iso(stamp) > since),
        reverse=True,
    )[:SEEN_IN_OVERLAP_LIMIT]
    return {key: stamp for _, key, stamp in kept}


def _write_changes(
    mirror: Mirror,
    stored: dict[str, StockItem],
    reservations: set[str],
    stock: StockRepository,
    now: datetime,
    *,
    check_every_variation: bool,
    write_stock: bool = True,
) -> int:
    """Save the touched memory; write ``stock`` only where the calculated quantity (or SKU) changed.

    A full reconciliation compares every variation with its stock item, not only those whose memory
    changed: an item lowered ahead of WholeCell (order_import's reservation) for an order that never
    reached WholeCell is healed here; so is every reservation past its grace, at any run. Without
    ``write_stock`` only the memory is saved.
    """
    changed = 0
    if not write_stock:
        for variation_id in sorted(mirror.touched):
            stock.save_mirror_entry(mirror.entries[variation_id])
        return changed
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
    wholecell: WholeCellPagedInventory
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


def run_connection(
    wired: WholeCellWatchWiring, budget: ChunkBudget | None = None, *, incremental_only: bool = False
) -> RunRecord:
    """One connection's run: :func:`watch_wholecell` under the flow's lock; the sales orders that
    changed go to shipment_export's :func:`capture_new_shipments`. ``incremental_only``: a rerun's
    (see :func:`watch_wholecell`)."""

    def capture(changed: list[Any]) -> int:
        return capture_new_shipments(
            changed,
            settings=wired.settings,
            orders=wired.orders,
            clock=wired.clock,
            linked_by_hand=linked_by_hand(wired.state),
        )

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
            budget=budget,
            incremental_only=incremental_only,
        )

    return run_flow(FLOW, wired.state, wired.clock, body, services=("wholecell",))


def handle(event: dict[str, Any], context: Any, clock: Clock) -> dict[str, Any]:
    """The wholecell_watch function: every minute for every connection, and each connection's rerun
    half a minute later (its rerun queue's SQS batch)."""
    return handle_scheduled(
        event, context, FUNCTION, lambda scheduled: run_scheduled(scheduled, context, clock)
    )


def run_scheduled(scheduled: ScheduledEvent, context: Any, clock: Clock) -> dict[str, Any]:
    """A slot's run (which asks for its rerun) or its rerun, for the connections the event names."""
    connections = connections_for(scheduled, context)
    request_reruns(FUNCTION, scheduled, connections)
    return run_summary(
        FUNCTION,
        (
            (
                settings.connection_id,
                run_connection(
                    wire(settings, clock),
                    ChunkBudget.for_invocation(context),
                    incremental_only=scheduled.rerun,
                ),
            )
            for settings in connections
        ),
    )
