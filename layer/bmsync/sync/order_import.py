"""order_import: Back Market orders -> WholeCell sales orders, their status, automatic validation.

- The first run (and the first after order import is switched on) imports every open Back Market
  order (paid or accepted); later runs read the orders modified since the cursor, minus an overlap
  window, and the daily catch-up re-reads the last days. The cursor moves only after every order read
  was handled (recorded in the ``orders`` table).
- Exactly one WholeCell order per Back Market order: creation is guarded by a claim on the order's
  item; a claim left behind by a crash is taken over only after its lease, and the new holder looks
  the order up in WholeCell before creating anything, by two witnesses: its external id, and the
  marker ``bmsync:<connection>:<order>`` bmsync writes in the order's notes. When neither finds it and
  the external-id lookup was never seen to work on this account, the order waits for a person to
  confirm it is absent (``needs_confirmation``) rather than risk a duplicate.
- Cutover: before creating, the channel's recent WholeCell orders are searched for one another
  integration (WholeCell's own) created for the order; one found is adopted (linked, never created).
  Such orders created in the last hour raise an alert: two integrations import at once (the channel
  is listed at least every 15 minutes for it, every run while the alert is up).
- A failure before the create was sent releases the claim: nothing to look up or confirm later.
- WholeCell's status follows Back Market's changes through the status map; WholeCell's own changes
  are never sent back.
- A settings change that can make a not-imported order importable (a newly mapped status, order
  import switched on: the fields marked ``affects: "order_import"``) makes the next run read every
  order recorded as not imported again from Back Market, whatever the overlap window: nothing changed
  on Back Market's side, so the incremental read would not see them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from bmsync import alerts
from bmsync.backmarket.states import (
    CLOSED_LINE_STATES,
    OPEN_ORDER_STATES,
    REFUNDED_LINE_STATES,
    LineState,
    OrderState,
)
from bmsync.catalog import by_name
from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.errors import IntegrationError
from bmsync.events import ScheduledEvent
from bmsync.observability import logger, record_latency
from bmsync.settings import (
    CHANNEL_CUSTOMER_NAME,
    ORDER_STATUS_LABELS,
    SALES_CHANNEL,
    BackMarketOrderStatus,
    OrganizationType,
    ProductVariationMode,
    Settings,
    settings_fingerprint,
)
from bmsync.store.listings_repo import ListingsRepository
from bmsync.store.orders_repo import ImportState, OrderLineRecord, OrderRecord, OrdersRepository
from bmsync.store.stock_repo import StockRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync import duplicates, shadow
from bmsync.sync.contract_confirmed import EXTERNAL_ID_LOOKUP, is_confirmed, record_confirmed
from bmsync.sync.flow import (
    connections_for,
    handle_scheduled,
    lease_for,
    request_reruns,
    run_flow,
    run_summary,
)
from bmsync.sync.ports import (
    BackMarketAddress,
    BackMarketOrder,
    BackMarketOrders,
    WholeCellOrders,
    WholeCellSalesOrder,
    WholeCellVariation,
)
from bmsync.sync.shipment_export import record_linked_by_hand
from bmsync.sync.validation import validate_new_lines
from bmsync.sync.wholecell_reading import read_or_fallback, variations_of_units
from bmsync.wholecell import contract
from bmsync.wholecell.models import OrderItemCreate, SalesOrderCreate, WholeCellAddress

FUNCTION = by_name("order_import")
FLOW = "order_import"
WRITER = "order_import"
CATCH_UP_TASK = "catch_up"
#: How long a run may hold an order's import claim before another run may take it over: as long
#: as its lock (the function's timeout and a margin; Lambda has stopped the run by then). The run
#: that takes over looks the order up in WholeCell before creating it. (Five minutes held an order
#: whose run crashed mid-create ~3 minutes longer than the crash itself.)
CLAIM_LEASE = lease_for(FLOW)
#: Cursor value meaning "import every open order on the next enabled run".
NO_CURSOR = ""
IMPORT_DOCUMENT = "order_import"
#: How long one run takes new orders (the function's timeout is 120 s; the rest is for the last one).
TIME_BUDGET = timedelta(seconds=90)
#: The import document's keys: the import-relevant settings the waiting orders were last looked at
#: with, and when.
SETTINGS_FINGERPRINT = "settings_fingerprint"
RECHECKED_AT = "waiting_orders_rechecked_at"
#: Orders of the channel created this recently by someone else mean another integration still imports.
OTHER_INTEGRATION_WINDOW = timedelta(hours=1)
#: A run that had nothing to look up in WholeCell still lists the channel's recent orders this often
#: (and every run while the warning is up): a duplicate another integration made of an order bmsync
#: imported is seen, and the warning clears once that integration stopped, without a new order.
OTHER_INTEGRATION_CHECK = timedelta(minutes=15)
#: When the channel was last listed, and whether another integration was seen at work then (its own
#: document: the import document's settings fingerprint is also written by the console).
OTHER_INTEGRATION_DOCUMENT = "order_import_other_integration"
#: The channel listing reaches this far before the Back Market order's creation (clocks differ).
LISTING_MARGIN = timedelta(hours=1)
#: How far back the listing reaches for an order without a creation date.
LISTING_FALLBACK = timedelta(days=30)
#: Any bmsync marker (of any connection and order) in a WholeCell order's notes.
ANY_MARKER = re.compile(r"\bbmsync:\S+:\d+\b")


class StockLevel(Protocol):
    @property
    def calculated(self) -> int: ...


class StockMirror(Protocol):
    """What order_import uses of ``bmsync.store.stock_repo.StockRepository``."""

    def get_many(self, variation_ids: Iterable[str]) -> Mapping[str, StockLevel]: ...
    def reserve_for_order(self, variation_id: str, quantity: int, *, as_of: str) -> bool: ...


class ListingRef(Protocol):
    @property
    def listing_id(self) -> str: ...


class OrderListings(Protocol):
    """What order_import uses of ``bmsync.store.listings_repo.ListingsRepository``."""

    def by_sku(self, sku: str) -> Sequence[ListingRef]: ...
    def chosen_variations(self, listing_id: str) -> list[str]: ...
    def record_backmarket_sale(
        self, listing_id: str, quantity: int, *, writer: str, sold_at: datetime | None = None
    ) -> bool: ...


def backmarket_status(order: BackMarketOrder) -> BackMarketOrderStatus | None:
    """The mappable status of an order: its state, and for a finished order what became of its lines."""
    if order.state == OrderState.PENDING_PAYMENT:
        return BackMarketOrderStatus.PENDING_PAYMENT
    if order.state == OrderState.PAID:
        return BackMarketOrderStatus.PAID
    if order.state == OrderState.ACCEPTED:
        return BackMarketOrderStatus.ACCEPTED
    if order.state == OrderState.FINISHED:
        states = {line.state for line in order.orderlines}
        if LineState.SHIPPED in states:
            return BackMarketOrderStatus.SHIPPED
        if states & REFUNDED_LINE_STATES:
            return BackMarketOrderStatus.REFUNDED
        return BackMarketOrderStatus.CANCELLED
    return None  # payment being checked and not paid: Back Market hides them


def label_of(status: BackMarketOrderStatus | None, state: int) -> str:
    return ORDER_STATUS_LABELS[status] if status else f"Back Market state {state}"


def cents(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal("1")))


@dataclass
class _Run:
    """Everything one run of order_import shares (per-run caches and counts)."""

    settings: Settings
    backmarket: BackMarketOrders
    wholecell: WholeCellOrders
    orders: OrdersRepository
    stock: StockMirror
    listings: OrderListings
    state: SyncStateRepository
    clock: Clock
    counts: dict[str, int] = field(default_factory=dict)
    variations_by_sku: dict[str, list[int]] = field(default_factory=dict)
    retry_later: bool = False
    #: The channel's WholeCell orders updated since ``channel_since``, read once per run.
    channel_orders: list[WholeCellSalesOrder] = field(default_factory=list)
    channel_since: datetime | None = None
    external_id_lookup_confirmed: bool | None = None
    #: Whether the last listing of the channel showed another integration at work.
    other_integration_seen: bool = False
    #: Orders WholeCell may hold already: a create was sent this run, or an earlier claim was interrupted.
    may_be_in_wholecell: set[int] = field(default_factory=set)
    #: Without ``/product_variations``: the variations the inventory list's units name (read once).
    unit_variations: list[WholeCellVariation] | None = None
    #: The unadvertised endpoints found missing this run (alerted once per run).
    missing_endpoints: set[str] = field(default_factory=set)

    def count(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    @property
    def connection_id(self) -> str:
        return self.settings.connection_id


def import_orders(
    *,
    settings: Settings,
    backmarket: BackMarketOrders,
    wholecell: WholeCellOrders,
    orders: OrdersRepository,
    stock: StockMirror,
    listings: OrderListings,
    state: SyncStateRepository,
    clock: Clock,
    run: RunRecord,
    catch_up: bool = False,
    time_budget: timedelta = TIME_BUDGET,
) -> None:
    """One run of order_import for one connection (the body given to ``run_flow``).

    A run stops taking new orders after ``time_budget`` (a large first import at WholeCell's pace
    would outlast the function's timeout); the cursor then stays and the next run carries on.
    """
    if not settings.order_import_enabled:
        run.progress = (
            "Order import is switched off: Back Market orders are not imported into WholeCell. "
            "Switch on 'Enable order import' in the settings."
        )
        if state.get_cursor(FLOW) == NO_CURSOR:
            return  # said so already (an alert counts every raise: not one a minute)
        state.set_cursor(FLOW, NO_CURSOR)
        alerts.ORDER_IMPORT_OFF.raise_on(state)
        return
    alerts.ORDER_IMPORT_OFF.clear_on(state)
    # Counts go straight onto the run record, so a run that dies mid-way still shows what it did.
    context = _Run(settings, backmarket, wholecell, orders, stock, listings, state, clock, run.counts)
    started = clock.now()
    cursor = state.get_cursor(FLOW)
    document = state.get_document(IMPORT_DOCUMENT) or {}
    if not cursor:
        mode = "first import of every open order"
        to_read: Iterable[BackMarketOrder] = _open_orders(backmarket)
        document["first_import_at"] = utc_iso(started)
        state.put_document(IMPORT_DOCUMENT, document)
    elif catch_up:
        mode = f"daily catch-up of the last {settings.order_catchup_days} days"
        to_read = backmarket.iter_orders(
            date_modification=started - timedelta(days=settings.order_catchup_days)
        )
    else:
        mode = "orders changed since the last run"
        since = parse_iso(cursor) - timedelta(minutes=settings.order_overlap_minutes)
        to_read = backmarket.iter_orders(date_modification=since)
    first_import_at = parse_iso(document.get("first_import_at") or utc_iso(started))
    seen: set[int] = set()
    rechecked = _recheck_waiting_orders(
        context, document, first_import_at, seen, first_run=not cursor, deadline=started + time_budget
    )
    if rechecked:
        mode += f", and {rechecked} orders waiting on the settings looked at again"
    out_of_time = False
    for order in to_read:
        if order.order_id in seen:
            continue
        if seen and clock.now() - started >= time_budget:
            out_of_time = True
            break
        seen.add(order.order_id)
        context.count("read")
        _handle(context, order, first_import_at)
    if out_of_time:
        run.progress = (
            f"{mode}: {len(seen)} orders handled before the run's time limit; the next run carries on"
        )
        return
    _look_for_other_integration(context)
    if context.retry_later:
        run.progress = f"{mode}: {len(seen)} orders read; some failed and are read again on the next run"
    else:
        state.set_cursor(FLOW, utc_iso(started))
        run.progress = f"{mode}: {len(seen)} orders read"


def _recheck_waiting_orders(
    context: _Run,
    document: dict[str, Any],
    first_import_at: datetime,
    seen: set[int],
    *,
    first_run: bool,
    deadline: datetime,
) -> int:
    """After a settings change (or on a first import): every order recorded as not imported, read
    again by id from Back Market and handled as a new read. Returns how many were looked at.

    The settings are compared with the fingerprint stored after the last complete re-check, so a
    change made anywhere (admin, API, a direct edit of the table) is noticed. The fingerprint is
    stored only once every waiting order was handled; otherwise the next run looks again.
    """
    fingerprint = settings_fingerprint(context.settings, "order_import")
    if not first_run and document.get(SETTINGS_FINGERPRINT) == fingerprint:
        return 0
    looked_at = 0
    for order_id in context.orders.list_not_imported(context.connection_id):
        if int(order_id) in seen:
            continue
        if context.clock.now() >= deadline:
            context.retry_later = True
            return looked_at
        try:
            order = context.backmarket.get_order(int(order_id))
        except IntegrationError as error:
            if error.needs_attention:
                raise
            # Gone from Back Market (404) or not answering: looked at again at the next change.
            context.retry_later = context.retry_later or error.retryable
            logger.warning(
                "waiting order not read again",
                extra={"order_id": order_id, "error_type": type(error).__name__},
            )
            continue
        seen.add(order.order_id)
        looked_at += 1
        context.count("rechecked")
        _handle(context, order, first_import_at)
    if not context.retry_later:
        document[SETTINGS_FINGERPRINT] = fingerprint
        document[RECHECKED_AT] = utc_iso(context.clock.now())
        context.state.put_document(IMPORT_DOCUMENT, document)
    return looked_at


def _open_orders(backmarket: BackMarketOrders) -> Iterator[BackMarketOrder]:
    for open_state in OPEN_ORDER_STATES:
        yield from backmarket.iter_orders(state=open_state)


def _handle(context: _Run, order: BackMarketOrder, first_import_at: datetime) -> None:
    try:
        record = context.orders.get(context.connection_id, order.order_id)
        if record is not None and record.import_state == "needs_confirmation":
            context.count("awaiting_confirmation")  # a person checks WholeCell first
            return
        if record is None or record.import_state != "imported":
            if (
                record is None
                and order.state == OrderState.FINISHED
                and _created_before(order, first_import_at)
            ):
                context.count("skipped_finished_before_first_import")
                return
            # A finished order with no item may be one whose item expired after it finished
            # (finished_order_retention_days): it was imported then. One placed more recently
            # cannot have expired yet.
            imported = _import(
                context,
                order,
                maybe_expired=record is None
                and order.state == OrderState.FINISHED
                and not _created_after(
                    order, context.clock.now() - context.settings.finished_order_retention
                ),
            )
            if imported is None:
                return
            record = imported
        _follow(context, order, record)
    except IntegrationError as error:
        if error.needs_attention:
            raise
        _record_failure(context, order, error)


def _created_after(order: BackMarketOrder, moment: datetime) -> bool:
    return order.date_creation is not None and order.date_creation > moment


def _created_before(order: BackMarketOrder, moment: datetime) -> bool:
    return order.date_creation is not None and order.date_creation <= moment


# --- import


def _import(context: _Run, order: BackMarketOrder, *, maybe_expired: bool = False) -> OrderRecord | None:
    """Create the order in WholeCell (exactly once); None when it is not (or not yet) to be imported.

    ``maybe_expired``: the order may have been imported before its item expired; it is looked up in
    WholeCell first, and one found there is recorded again (its stock was reserved back then).
    """
    settings, now = context.settings, context.clock.now()
    status = backmarket_status(order)
    wholecell_status = settings.wholecell_status_for(status) if status else None
    if wholecell_status is None:
        _record_not_mapped(context, order, status)
        return None
    owner = uuid.uuid4().hex
    claimed = context.orders.claim_import(
        context.connection_id, order.order_id, owner=owner, now=now, lease_until=now + CLAIM_LEASE
    )
    if claimed is None:
        # Another run is creating it (or crashed doing so): read it again until that is settled.
        context.count("busy_elsewhere")
        context.retry_later = True
        return None
    # An earlier run claimed this order and did not finish, or imported it before its item expired:
    # the WholeCell order may exist already.
    unclear = claimed.import_interrupted or maybe_expired
    if unclear:
        context.may_be_in_wholecell.add(order.order_id)
    lines = _resolve_lines(context, order)
    sales_order, adopted = (
        (context.wholecell.get_sales_order(claimed.confirmed_wholecell_order_id), True)
        if claimed.confirmed_wholecell_order_id is not None  # named by a person: linked, as adopted
        else _find_in_wholecell(context, order, unclear=unclear)
    )
    after_expiry = False
    if sales_order is not None:
        context.count("adopted" if adopted else "recovered")
        after_expiry = maybe_expired and not claimed.import_interrupted
    elif unclear and not _external_id_lookup_confirmed(context):
        _record_needs_confirmation(context, order, owner, lines, status)
        return None
    created = sales_order is None
    if sales_order is None:
        request = _sales_order_request(context, order, lines, wholecell_status)
        context.may_be_in_wholecell.add(order.order_id)  # from the create on, whatever its answer
        try:
            sales_order = context.wholecell.create_sales_order(request)
        except shadow.WriteRecorded:
            _record_shadowed(context, order, owner, lines, status)
            return None
        context.count("imported")
        if order.date_creation is not None:
            record_latency("OrderImport", (context.clock.now() - order.date_creation).total_seconds())
    stored = _record_import(
        context,
        order,
        owner,
        sales_order,
        lines,
        status,
        wholecell_status,
        after_expiry=after_expiry,
        adopted=adopted,
    )
    if created:
        _observe_external_id_lookup(context, order, sales_order)
    _raise_unknown_sku_alerts(context, order, lines)
    if stored.currency_mismatch:
        context.count("other_currency")
        alerts.ORDER_OTHER_CURRENCY.raise_on(
            context.state,
            currency=stored.currency or "?",
            account_currency=settings.backmarket_account_currency(),
            market=stored.market or "another market",
            order_id=order.order_id,
        )
    return stored


# --- finding the order in WholeCell before creating it


def _find_in_wholecell(
    context: _Run, order: BackMarketOrder, *, unclear: bool
) -> tuple[WholeCellSalesOrder | None, bool]:
    """The WholeCell order already made for ``order``, and whether another integration made it.

    After an unclear create: its external id, then bmsync's marker in the notes. Always (cutover):
    an order of the channel another integration created, naming the Back Market order number in its
    external id or notes (the shape WholeCell's own integration writes is not known: any mention).
    """
    number = str(order.order_id)
    if unclear:
        found = context.wholecell.find_sales_order_by_external_id(number, channel=SALES_CHANNEL)
        if found is not None:
            return found, False
    marker = order_marker(context.connection_id, order.order_id)
    candidates = _channel_orders(context, order)
    for candidate in candidates:
        if marker in (candidate.notes or ""):
            return candidate, False
    mention = re.compile(rf"(?<!\d){number}(?!\d)")
    for candidate in candidates:
        notes = candidate.notes or ""
        if ANY_MARKER.search(notes):
            continue  # bmsync's own order (another order's, or another connection's)
        if candidate.external_id == number or mention.search(f"{candidate.external_id or ''} {notes}"):
            return candidate, True
    return None, False


def _channel_orders(context: _Run, order: BackMarketOrder) -> list[WholeCellSalesOrder]:
    """The channel's orders that may be this order's: updated since a little before it was placed
    (and at least the last hour, to see another integration at work). Read once per run."""
    now = context.clock.now()
    placed = order.date_creation or now - LISTING_FALLBACK
    since = min(placed, now - OTHER_INTEGRATION_WINDOW) - LISTING_MARGIN
    if context.channel_since is None or since < context.channel_since:
        context.channel_orders = list(
            context.wholecell.iter_sales_orders(channel=SALES_CHANNEL, updated_at_gt=since)
        )
        context.channel_since = since
        _watch_other_integration(context)
    return context.channel_orders


def _look_for_other_integration(context: _Run) -> None:
    """After the run's orders: list the channel if this run did not and it is due (every
    ``OTHER_INTEGRATION_CHECK``, every run while another integration was seen), and note when."""
    now = context.clock.now()
    if context.channel_since is None:
        document = context.state.get_document(OTHER_INTEGRATION_DOCUMENT) or {}
        checked = document.get("checked_at")
        if checked and not document.get("seen") and parse_iso(checked) > now - OTHER_INTEGRATION_CHECK:
            return
        since = now - OTHER_INTEGRATION_WINDOW - LISTING_MARGIN
        try:
            context.channel_orders = list(
                context.wholecell.iter_sales_orders(channel=SALES_CHANNEL, updated_at_gt=since)
            )
        except IntegrationError as error:
            if error.needs_attention:
                raise
            # Listed again at the next check; the warning stays as it is until then.
            logger.warning("channel orders not listed", extra={"error_type": type(error).__name__})
            context.other_integration_seen = bool(document.get("seen"))
        else:
            _watch_other_integration(context)
    context.state.put_document(
        OTHER_INTEGRATION_DOCUMENT, {"checked_at": utc_iso(now), "seen": context.other_integration_seen}
    )


def _watch_other_integration(context: _Run) -> None:
    """Orders of the channel created in the last hour that bmsync did not create: another
    integration (WholeCell's own) is still importing, the classic cause of duplicate orders."""
    recent = context.clock.now() - OTHER_INTEGRATION_WINDOW
    foreign = [
        sales_order
        for sales_order in context.channel_orders
        if sales_order.created_at > recent
        and not ANY_MARKER.search(sales_order.notes or "")
        and not _created_by_bmsync(context, sales_order)
    ]
    context.other_integration_seen = bool(foreign)
    if not foreign:
        alerts.OTHER_INTEGRATION_IMPORTING.clear_on(context.state)
        return
    context.count("other_integration_orders", len(foreign))
    alerts.OTHER_INTEGRATION_IMPORTING.raise_on(
        context.state, count=len(foreign), wholecell_order_id=foreign[-1].id
    )


def _created_by_bmsync(context: _Run, sales_order: WholeCellSalesOrder) -> bool:
    """An unmarked order bmsync created before it wrote markers: its record names it, not adopted."""
    number = (sales_order.external_id or "").strip()
    if not number.isdigit():
        return False
    record = context.orders.get(context.connection_id, number)
    return record is not None and record.wholecell_order_id == sales_order.id and not record.adopted


def _external_id_lookup_confirmed(context: _Run) -> bool:
    if context.external_id_lookup_confirmed is None:
        context.external_id_lookup_confirmed = is_confirmed(context.state, EXTERNAL_ID_LOOKUP)
    return context.external_id_lookup_confirmed


def _observe_external_id_lookup(
    context: _Run, order: BackMarketOrder, sales_order: WholeCellSalesOrder
) -> None:
    """Until the external-id lookup is confirmed: find the order just made by it; record that it works."""
    if _external_id_lookup_confirmed(context):
        return
    try:
        found = context.wholecell.find_sales_order_by_external_id(str(order.order_id), channel=SALES_CHANNEL)
    except IntegrationError as error:
        if error.needs_attention:
            raise
        return  # tried again after the next create
    if found is None or found.id != sales_order.id:
        logger.warning(
            "WholeCell did not find an order by its external id",
            extra={"order_id": order.order_id, "wholecell_order_id": sales_order.id},
        )
        return
    record_confirmed(context.state, EXTERNAL_ID_LOOKUP, by=FLOW, at=context.clock.now())
    context.external_id_lookup_confirmed = True


def may_exist_reason(order_id: int | str) -> str:
    return (
        "may already be in WholeCell: an attempt to create it did not finish, and neither its external id "
        f"nor bmsync's marker in the notes ({order_marker('<connection>', order_id)}) found it; check "
        "WholeCell's Backmarket orders, then confirm it is absent to have it created"
    )


def _record_needs_confirmation(
    context: _Run,
    order: BackMarketOrder,
    owner: str,
    lines: list[OrderLineRecord],
    status: BackMarketOrderStatus | None,
) -> None:
    """Never re-create on an unconfirmed lookup: the order waits for a person (alert, console)."""
    _hand_back_claim(
        context,
        order,
        owner,
        lines,
        status,
        import_state="needs_confirmation",
        reason=may_exist_reason(order.order_id),
    )
    context.count("needs_confirmation")
    alerts.ORDER_MAY_EXIST.raise_on(context.state, order_id=order.order_id)


SHADOW_NOT_CREATED = (
    "shadow mode: would be created in WholeCell (see What bmsync would do); created, or adopted, by the "
    "first order import after going live"
)


def _record_shadowed(
    context: _Run,
    order: BackMarketOrder,
    owner: str,
    lines: list[OrderLineRecord],
    status: BackMarketOrderStatus | None,
) -> None:
    """Shadow mode recorded the WholeCell order instead of creating it: the order stays not imported
    (going live changes a setting that makes order_import read every such order again), and the lines
    it would validate are recorded too."""
    now = context.clock.now()
    # Nothing was reserved (no WholeCell order counts the units): the lines' stock is what it was.
    validate_new_lines(
        context.settings,
        order,
        OrderRecord(connection_id=context.connection_id, order_id=str(order.order_id), lines=lines),
        context.backmarket,
        lambda line: _coverage(context, line, reserved=False),
        now,
    )

    _hand_back_claim(
        context, order, owner, lines, status, import_state="not_imported", reason=SHADOW_NOT_CREATED
    )
    context.count("would_create")


def _hand_back_claim(
    context: _Run,
    order: BackMarketOrder,
    owner: str,
    lines: list[OrderLineRecord],
    status: BackMarketOrderStatus | None,
    *,
    import_state: ImportState,
    reason: str,
) -> None:
    """Our claim on an order nothing was created for ends in ``import_state``, with the lines as
    resolved and Back Market's view; a reason already last in its history is not repeated."""
    now = context.clock.now()

    def hand_back(record: OrderRecord) -> bool:
        if record.claim_owner != owner or record.import_state != "creating":
            return False
        record.import_state = import_state
        record.import_status = reason
        record.claim_owner = None
        record.claim_until = None
        record.import_interrupted = False
        record.lines = lines
        _copy_backmarket_view(record, order, status)
        _copy_currency(record, order, context.settings.backmarket_account_currency())
        if not record.history or record.history[-1].event != reason:
            record.add_history(now, reason)
        return True

    context.orders.update(context.connection_id, order.order_id, hand_back, writer=WRITER, now=now)


def confirm_absent(
    *, orders: OrdersRepository, state: SyncStateRepository, connection_id: str, order_id: str, now: datetime
) -> bool:
    """A person checked WholeCell: the order is not there. The next run creates it (False when the
    order was not waiting for that)."""
    reason = "confirmed absent from WholeCell in the console: created at the next order import run"
    return _confirm(orders, state, connection_id, order_id, now, reason, wholecell_order_id=None)


def confirm_present(
    *,
    orders: OrdersRepository,
    state: SyncStateRepository,
    connection_id: str,
    order_id: str,
    wholecell_order_id: int,
    now: datetime,
) -> bool:
    """A person found the order in WholeCell as ``wholecell_order_id`` (checked plausible by
    ``bmsync.sync.order_link``): the next run links it as an adopted order is linked, and
    wholecell_watch follows that sales order even if it names no Back Market order."""
    reason = (
        f"confirmed in WholeCell as sales order {wholecell_order_id} in the console: linked (never "
        "created) at the next order import run"
    )
    if not _confirm(
        orders, state, connection_id, order_id, now, reason, wholecell_order_id=wholecell_order_id
    ):
        return False
    record_linked_by_hand(state, wholecell_order_id, order_id)
    return True


def _confirm(
    orders: OrdersRepository,
    state: SyncStateRepository,
    connection_id: str,
    order_id: str,
    now: datetime,
    reason: str,
    *,
    wholecell_order_id: int | None,
) -> bool:
    def confirmed(record: OrderRecord) -> bool:
        if record.import_state != "needs_confirmation":
            return False
        record.import_state = "not_imported"
        record.import_status = reason
        record.confirmed_wholecell_order_id = wholecell_order_id
        record.add_history(now, reason)
        return True

    stored = orders.update(connection_id, order_id, confirmed, writer="admin", now=now)
    if stored is None or stored.import_status != reason or stored.import_state != "not_imported":
        return False
    # The next run reads the orders waiting as not imported again (as after a settings change).
    document = state.get_document(IMPORT_DOCUMENT) or {}
    document.pop(SETTINGS_FINGERPRINT, None)
    state.put_document(IMPORT_DOCUMENT, document)
    alerts.ORDER_MAY_EXIST.clear_on(state, order_id=order_id)
    return True


def not_mapped_reason(label: str) -> str:
    """What an order whose status is not mapped is recorded with (the doctor recognises it)."""
    return (
        f"not imported: {label} is not mapped to a WholeCell status; map it under Order statuses in "
        "the settings to import such orders"
    )


def _record_not_mapped(context: _Run, order: BackMarketOrder, status: BackMarketOrderStatus | None) -> None:
    label = label_of(status, order.state)
    reason = not_mapped_reason(label)

    newly_recorded = False

    def note(record: OrderRecord) -> bool:
        nonlocal newly_recorded
        newly_recorded = record.import_state != "creating" and record.import_status != reason
        if not newly_recorded:
            return False
        record.import_state = "not_imported"
        record.import_status = reason
        _copy_backmarket_view(record, order, status)
        record.add_history(context.clock.now(), reason)
        return True

    context.orders.update(
        context.connection_id, order.order_id, note, writer=WRITER, now=context.clock.now(), create=True
    )
    context.count("not_mapped")
    if not newly_recorded:
        return  # recorded (and alerted) before: an unchanged re-read says nothing new
    alerts.ORDER_STATUS_UNMAPPED.raise_on(
        context.state, status=status.value if status else order.state, label=label, order_id=order.order_id
    )


def _resolve_lines(context: _Run, order: BackMarketOrder) -> list[OrderLineRecord]:
    return [
        OrderLineRecord(
            line_id=line.id,
            sku=line.listing,
            quantity=line.quantity,
            state=line.state,
            product=line.product or "",
            # Back Market's line price is the line total (the live API, whatever the spec says).
            price_cents=sum(units) if (units := line.unit_prices_cents()) else cents(line.price),
            unit_prices_cents=units,
            # Best-stocked first: the WholeCell item is booked on it and the stock mirror reserved on
            # it, so bmsync's mirror and WholeCell's own outstanding quantity agree.
            variation_ids=(ids := _best_stocked_first(context, _variations_for(context, line.listing))),
            unknown_sku=not ids,
        )
        for line in order.orderlines
    ]


def _variations_for(context: _Run, sku: str) -> list[int]:
    key = sku.strip().lower()
    if key not in context.variations_by_sku:
        if context.settings.product_variations == ProductVariationMode.MATCH_VIA_SKU:
            ids = [
                variation.id
                for variation in _variations_with_sku(context, sku)
                if (variation.sku or "").strip().lower() == key
            ]
        else:
            ids = []
            for listing in context.listings.by_sku(sku):
                ids.extend(
                    int(variation) for variation in context.listings.chosen_variations(listing.listing_id)
                )
        context.variations_by_sku[key] = sorted(set(ids))
    return context.variations_by_sku[key]


def _variations_with_sku(context: _Run, sku: str) -> list[WholeCellVariation]:
    """WholeCell's variations with ``sku``; where it has no ``/product_variations``, every variation the
    units of the inventory list name (one read per run; a variation without units is not among them)."""
    if context.unit_variations is not None:
        return context.unit_variations

    def from_units() -> list[WholeCellVariation]:
        context.unit_variations = list(variations_of_units(context.wholecell.iter_inventories()))
        return context.unit_variations

    return read_or_fallback(
        context.state,
        contract.PRODUCT_VARIATIONS,
        lambda: list(context.wholecell.iter_product_variations(sku=sku)),
        from_units,
        missing=context.missing_endpoints,
    )


def _sales_order_request(
    context: _Run, order: BackMarketOrder, lines: list[OrderLineRecord], wholecell_status: str
) -> SalesOrderCreate:
    address = order.shipping_address
    shipping_name = _shipping_name(address)
    if context.settings.organization_type == OrganizationType.CHANNEL_NAME:
        customer_name = CHANNEL_CUSTOMER_NAME
    else:
        company = (address.company or "").strip() if address else ""
        customer_name = shipping_name or company or f"Back Market buyer {order.order_id}"
    customer = context.wholecell.find_or_create_customer(customer_name)
    return SalesOrderCreate(
        customer_id=customer.id,
        status=wholecell_status,
        channel=SALES_CHANNEL,
        external_id=str(order.order_id),
        shipping_address=_wholecell_address(address, shipping_name or customer_name),
        order_items=[item for line in lines for item in _order_items(line)],
        notes=_order_notes(order, context.settings.backmarket_account_currency())
        + f"; {order_marker(context.connection_id, order.order_id)}",
    )


def order_marker(connection_id: str, order_id: int | str) -> str:
    """The second witness bmsync writes in a WholeCell order's notes (found again without external id)."""
    return f"bmsync:{connection_id}:{order_id}"


def _order_items(line: OrderLineRecord) -> list[OrderItemCreate]:
    """The line's WholeCell items at the unit price: one per distinct unit price, so that price x quantity
    adds up to the line's price exactly (10.01 over 3 units: 2 at 3.34 and 1 at 3.33)."""
    quantities: dict[int, int] = {}
    for unit_price in line.unit_prices_cents or [line.price_cents]:
        quantities[unit_price] = quantities.get(unit_price, 0) + 1
    return [
        OrderItemCreate(
            product_variation_id=line.variation_ids[0] if line.variation_ids else None,
            sku=line.sku,
            description=line.product or line.sku,
            quantity=quantity if line.unit_prices_cents else line.quantity,
            price=unit_price,
        )
        for unit_price, quantity in quantities.items()
    ]


def _order_notes(order: BackMarketOrder, account_currency: str) -> str:
    """The order's notes in WholeCell; they carry its currency (the adopted contract has no field for it)."""
    currency = order.currency_code or "unknown currency"
    market = f", market {order.country_code}" if order.country_code else ""
    notes = f"Back Market order {order.order_id}; prices in {currency}{market}"
    if order.currency_differs_from(account_currency):
        notes += f"; NOT in the account currency {account_currency}: amounts are as Back Market gave them"
    return notes


def _copy_currency(record: OrderRecord, order: BackMarketOrder, account_currency: str) -> None:
    record.currency = order.currency_code
    record.market = order.country_code
    record.currency_mismatch = order.currency_differs_from(account_currency)


def _shipping_name(address: BackMarketAddress | None) -> str:
    if address is None:
        return ""
    return " ".join(
        part.strip() for part in (address.first_name or "", address.last_name or "") if part.strip()
    )


def _wholecell_address(address: BackMarketAddress | None, name: str) -> WholeCellAddress:
    if address is None:
        return WholeCellAddress(name=name)
    return WholeCellAddress(
        name=name,
        street1=address.street or "",
        street2=address.street2 or None,
        city=address.city or "",
        zip=address.postal_code or "",
        country=address.country or "",
        phone=address.phone or None,
    )


def _record_import(
    context: _Run,
    order: BackMarketOrder,
    owner: str,
    sales_order: WholeCellSalesOrder,
    lines: list[OrderLineRecord],
    status: BackMarketOrderStatus | None,
    wholecell_status: str,
    *,
    after_expiry: bool = False,
    adopted: bool = False,
) -> OrderRecord:
    now = context.clock.now()
    unknown = [line.sku for line in lines if line.unknown_sku]

    def imported(record: OrderRecord) -> bool:
        if record.import_state == "imported":
            return False
        record.import_state = "imported"
        if record.confirmed_wholecell_order_id == sales_order.id:
            linked = f"linked to WholeCell sales order {sales_order.id}, as confirmed in the console"
        elif adopted:
            linked = f"adopted from WholeCell's own integration: WholeCell sales order {sales_order.id}"
        else:
            linked = f"imported as WholeCell sales order {sales_order.id}"
        record.import_status = linked + (f"; Unknown SKU: {', '.join(unknown)}" if unknown else "")
        record.adopted = adopted
        record.claim_owner = None
        record.claim_until = None
        record.import_interrupted = False
        record.wholecell_order_id = sales_order.id
        record.wholecell_status = sales_order.status or wholecell_status
        record.wholecell_status_seen = record.wholecell_status
        record.unknown_skus = unknown
        _copy_backmarket_view(record, order, status)
        _copy_currency(record, order, context.settings.backmarket_account_currency())
        if after_expiry or adopted:
            # Imported before the item expired, or by another integration: WholeCell counts it as
            # outstanding already, and it may show an older status, which _follow compares afresh.
            record.stock_reserved = True
            record.bm_status = None
        record.lines = lines
        record.add_history(now, record.import_status)
        return True

    stored = context.orders.update(context.connection_id, order.order_id, imported, writer=WRITER, now=now)
    if stored is None:  # pragma: no cover - the claim created the item
        raise RuntimeError(f"order {order.order_id} vanished from the orders table while importing")
    _reserve_stock(context, stored, sold_at=order.date_creation)
    return stored


def _reserve_stock(context: _Run, record: OrderRecord, *, sold_at: datetime | None = None) -> None:
    """Lower the stock mirror at once, so quantity sync protects the other listings sharing the stock."""
    if record.stock_reserved:
        return
    as_of = utc_iso(context.clock.now())
    for line in record.lines:
        if line.state not in CLOSED_LINE_STATES:
            # Back Market already lowered the ordered listing; noted before the stock write, so quantity
            # sync compares the new mirror with what Back Market really shows (unless bmsync sent the
            # listing's quantity after the sale: then Back Market shows what was sent).
            for listing in context.listings.by_sku(line.sku):
                context.listings.record_backmarket_sale(
                    listing.listing_id, line.quantity, writer=WRITER, sold_at=sold_at
                )
        if line.variation_ids and line.state not in CLOSED_LINE_STATES:
            context.stock.reserve_for_order(str(line.variation_ids[0]), line.quantity, as_of=as_of)

    def reserved(stored: OrderRecord) -> bool:
        if stored.stock_reserved:
            return False
        stored.stock_reserved = True
        return True

    context.orders.update(
        context.connection_id, record.order_id, reserved, writer=WRITER, now=context.clock.now()
    )
    record.stock_reserved = True


def _best_stocked_first(context: _Run, variation_ids: list[int]) -> list[int]:
    if len(variation_ids) < 2:
        return variation_ids
    levels = context.stock.get_many(str(variation_id) for variation_id in variation_ids)
    return sorted(
        variation_ids,
        key=lambda variation_id: (
            -(levels[str(variation_id)].calculated if str(variation_id) in levels else -(10**9)),
            variation_id,
        ),
    )


def _raise_unknown_sku_alerts(context: _Run, order: BackMarketOrder, lines: list[OrderLineRecord]) -> None:
    for line in lines:
        if not line.unknown_sku:
            continue
        kind = (
            alerts.UNKNOWN_SKU_NO_VARIATION
            if context.settings.product_variations == ProductVariationMode.MATCH_VIA_SKU
            else alerts.UNKNOWN_SKU_NOT_CHOSEN
        )
        context.count("unknown_sku")
        kind.raise_on(context.state, sku_key=line.sku.strip().lower(), sku=line.sku, order_id=order.order_id)


# --- following Back Market


def _follow(context: _Run, order: BackMarketOrder, record: OrderRecord) -> None:
    """Bring an imported order up to date with Back Market: validation, WholeCell status, held export."""
    settings, now = context.settings, context.clock.now()
    order, decisions = validate_new_lines(
        settings, order, record, context.backmarket, lambda line: _coverage(context, line), now
    )
    context.count("validated", sum(1 for decision in decisions if decision.action == "accepted"))
    status = backmarket_status(order)
    target = settings.wholecell_status_for(status) if status else None
    status_changed = status is not None and status.value != record.bm_status
    updated_status: str | None = None
    status_recorded = False
    note = ""
    if status_changed and record.wholecell_order_id is not None:
        if target is None:
            note = (
                f"{label_of(status, order.state)} is not mapped to a WholeCell status: the WholeCell status "
                f"stays {record.wholecell_status_seen or record.wholecell_status!r}"
            )
        elif target != record.wholecell_status or target != record.wholecell_status_seen:
            if record.wholecell_status_seen and record.wholecell_status_seen != record.wholecell_status:
                note = (
                    f"WholeCell status {record.wholecell_status_seen!r} (set by hand) replaced by "
                    f"{target!r}: {label_of(status, order.state)} maps to {target!r}; change the order "
                    "status mapping if that is wrong"
                )
            try:
                context.wholecell.update_sales_order_status(record.wholecell_order_id, target)
                updated_status = target
                context.count("status_updated")
            except shadow.WriteRecorded:
                # Shadow mode: Back Market's status is not taken as followed, so going live sets it.
                status_recorded = True
                note = f"shadow mode: would set the WholeCell status to {target!r}"

    def follow(stored: OrderRecord) -> bool:
        before = stored.model_dump()
        if decisions:
            stored.validations.extend(decisions)
            for decision in decisions:
                stored.add_history(now, decision.reason)
        if status_changed:
            stored.add_history(now, f"Back Market: {label_of(status, order.state)}")
        followed_status = stored.bm_status
        _copy_backmarket_view(stored, order, status)
        if status_recorded:
            stored.bm_status = followed_status
        _copy_currency(stored, order, settings.backmarket_account_currency())
        if updated_status is not None:
            stored.wholecell_status = updated_status
            stored.wholecell_status_seen = updated_status
            stored.status_note = ""
            stored.add_history(now, f"WholeCell status set to {updated_status!r}")
        if note:
            stored.status_note = note
            stored.add_history(now, note)
        if stored.export_state == "held_not_validated" and _held_export_can_go(order):
            # shipment_export re-reads the order: it sends, or records why not (e.g. cancelled).
            stored.export_state = "pending"
            stored.export_reason = (
                f"order {order.order_id} changed on Back Market: the held shipment goes out"
            )
            stored.add_history(now, stored.export_reason)
        return stored.model_dump() != before

    context.orders.update(context.connection_id, order.order_id, follow, writer=WRITER, now=now)


def _held_export_can_go(order: BackMarketOrder) -> bool:
    """Every open line validated (the shipment can be sent), or none left open (it never will be)."""
    open_lines = [line for line in order.orderlines if line.state not in CLOSED_LINE_STATES]
    return all(line.state == LineState.ACCEPTED for line in open_lines)


def _coverage(context: _Run, line: OrderLineRecord, *, reserved: bool = True) -> int | None:
    """The line's variations' calculated quantity before this order was counted in it."""
    levels = context.stock.get_many(str(variation) for variation in line.variation_ids)
    if not levels:
        return None
    # The import lowered the mirror by this line already (and WholeCell counts it as outstanding),
    # unless shadow mode only recorded it.
    return sum(level.calculated for level in levels.values()) + (line.quantity if reserved else 0)


def _copy_backmarket_view(
    record: OrderRecord, order: BackMarketOrder, status: BackMarketOrderStatus | None
) -> None:
    record.bm_state = order.state
    record.bm_status = status.value if status else None
    record.bm_date_modification = utc_iso(order.date_modification) if order.date_modification else None
    states = {line.id: line.state for line in order.orderlines}
    for line in record.lines:
        line.state = states.get(line.line_id, line.state)


def _record_failure(context: _Run, order: BackMarketOrder, error: IntegrationError) -> None:
    """A failed order is recorded with the reason; a transient failure keeps the cursor for a retry."""
    now = context.clock.now()
    transient = error.retryable
    reason = (
        f"not imported yet: {error.message}; tried again on the next run"
        if transient
        else f"not imported: {error.message}" + (f" ({error.action})" if error.action else "")
    )

    may_exist = order.order_id in context.may_be_in_wholecell

    def failed(record: OrderRecord) -> bool:
        if record.import_state == "imported":
            return False
        if record.import_state == "creating" and may_exist:
            # Let the next run take over at once; it looks the order up before creating it.
            record.claim_until = utc_iso(now)
        else:
            # Failed before any create was sent: WholeCell cannot hold it, nothing to look up later.
            record.import_state = "not_imported"
            record.claim_owner = None
            record.claim_until = None
            record.import_interrupted = False
        record.import_status = reason
        record.add_history(now, reason)
        return True

    context.orders.update(context.connection_id, order.order_id, failed, writer=WRITER, now=now, create=True)
    context.count("failed")
    logger.warning(
        "order not imported", extra={"order_id": order.order_id, "error_type": type(error).__name__}
    )
    if transient:
        context.retry_later = True
    else:
        alerts.ORDER_NOT_IMPORTED.raise_on(
            context.state, action=error.action, order_id=order.order_id, reason=reason
        )


# --- wiring and the entry point


@dataclass(frozen=True)
class OrderImportWiring:
    """One connection's order_import collaborators, as in production."""

    settings: Settings
    backmarket: BackMarketOrders
    wholecell: WholeCellOrders
    orders: OrdersRepository
    stock: StockMirror
    listings: ListingsRepository  # the rules see it as OrderListings; run_flow resends failed pushes
    state: SyncStateRepository
    clock: Clock


def wire(settings: Settings, clock: Clock) -> OrderImportWiring:
    return OrderImportWiring(
        settings=settings,
        # Shadow mode (bmsync.sync.shadow): the writes are recorded, not sent.
        backmarket=shadow.backmarket_for(settings, clock),
        wholecell=shadow.wholecell_for(settings, clock),
        orders=OrdersRepository(finished_retention=settings.finished_order_retention),
        stock=StockRepository(settings.connection_id),
        listings=ListingsRepository(settings.connection_id),
        state=SyncStateRepository(settings.connection_id, clock),
        clock=clock,
    )


def run_connection(wired: OrderImportWiring, *, catch_up: bool = False) -> RunRecord:
    """One connection's order_import run: :func:`import_orders` under the flow's lock."""

    def body(run: RunRecord) -> None:
        if wired.settings.order_import_enabled:  # two connections on one account import twice
            duplicates.guard_order_import(wired.settings, state=wired.state, clock=wired.clock)
        import_orders(
            settings=wired.settings,
            backmarket=wired.backmarket,
            wholecell=wired.wholecell,
            orders=wired.orders,
            stock=wired.stock,
            listings=wired.listings,
            state=wired.state,
            clock=wired.clock,
            run=run,
            catch_up=catch_up,
        )

    return run_flow(
        FLOW, wired.state, wired.clock, body, services=("backmarket", "wholecell"), listings=wired.listings
    )


def handle(event: dict[str, Any], context: Any, clock: Clock) -> dict[str, Any]:
    """The order_import function: every minute and each connection's rerun half a minute later (its
    rerun queue's SQS batch), and daily with ``task: "catch_up"``."""
    return handle_scheduled(
        event, context, FUNCTION, lambda scheduled: run_scheduled(scheduled, context, clock)
    )


def run_scheduled(scheduled: ScheduledEvent, context: Any, clock: Clock) -> dict[str, Any]:
    """A slot's run (the main one asks for its rerun), or its rerun: the same import."""
    connections = connections_for(scheduled, context)
    request_reruns(FUNCTION, scheduled, connections)
    catch_up = scheduled.task == CATCH_UP_TASK
    return run_summary(
        FUNCTION,
        (
            (settings.connection_id, run_connection(wire(settings, clock), catch_up=catch_up))
            for settings in connections
        ),
    )
