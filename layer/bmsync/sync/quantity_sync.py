"""quantity_sync: Back Market listing quantities from the WholeCell stock mirror.

For each listing a change touches: quantity = max(0, Σ calculated of its mapped variations − safety
buffer), pushed to Back Market only when it differs from the last value synced (or, for the drift
check, from what Back Market shows). Many changes of one listing in a batch become one write.
Decreases go first (to zero first, then the largest), then increases by size; increases wait while the
hourly SKU-update budget is down to the reserve kept for decreases, and stay recorded as ``deferred``
until the next drift check sends them — never dropped. (The 10-second request window never defers:
the client's limiter waits the seconds it takes.) A listing coming back from 0 is
republished (``pub_state`` online). Sold out is any quantity <= 0: a double checkout leaves a listing at
-1, and it comes back like one at 0.

Idempotency: every decision is made from the stored state, never from the record alone, so a
replayed or duplicated stream record finds nothing left to send. A push is claimed first with a
conditional write on the listing's ``sync_seq``: two invocations racing on one listing never both send.

Why a listing is not pushed is always on the listing (``sync_status`` + ``reason``), in the order of
the seed's troubleshooting list: imported? connected? quantity sync enabled? The decision itself is
:func:`decide_quantity`, a pure function the admin's doctor calls too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from bmsync import alerts
from bmsync.backmarket.models import sold_out
from bmsync.backmarket.states import PublicationState
from bmsync.catalog import by_name
from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.errors import IntegrationError
from bmsync.observability import logger, record_backmarket_budget, record_latency
from bmsync.settings import ProductVariationMode, Settings
from bmsync.store.idempotency import run_once
from bmsync.store.listings_repo import (
    PRODUCT_NOT_SET,
    ListingItem,
    ListingsRepository,
    SyncStatus,
    unmapped_reason,
)
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.stock_repo import StockItem, StockRepository, sku_key
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync import shadow
from bmsync.sync.flow import (
    clear_attention_alerts,
    connections_for,
    finish_stream_run,
    record_run,
    run_flow,
    run_summary,
    scheduled_event,
    start_invocation,
    stream_run,
    time_left,
)
from bmsync.sync.ports import BackMarketListings, ListingLike

FUNCTION = by_name("quantity_sync")
FLOW = "quantity_sync"
DRIFT_TASK = "drift_check"
DRIFT_FLOW = f"{FLOW}.{DRIFT_TASK}"
#: SKU updates (and requests) kept for decreases: increases wait when the budget is down to this.
DECREASE_RESERVE = 20

SYNC_OFF = "quantity sync is off: enable Inventory Quantity Sync in the settings"
PAUSED = "quantity sync is paused for this listing in the admin"
DEFERRED = "not pushed: deferred by the SKU-update budget; the next drift check sends it"
OUT_OF_TIME = "not pushed: the drift check ran out of time before it; the next drift check sends it"
#: A drift check stops pushing this long before its function's timeout: what is left is recorded
#: ``deferred`` (the next check sends it), where a run killed at its timeout would leave it unsaid.
DRIFT_CHECK_RESERVE_SECONDS = 15.0
GONE = "Back Market no longer has this listing: nothing is pushed (import listings again if it came back)"


def not_imported_reason(sku: str) -> str:
    return f"no listing with SKU {sku} has been imported from Back Market: run Import listings"


# --- the decision (pure)


class StockLevel(Protocol):
    """One mapped variation's mirror, as ``bmsync.store.stock_repo.StockItem`` holds it."""

    @property
    def calculated(self) -> int: ...
    @property
    def as_of(self) -> str: ...


@dataclass(frozen=True)
class QuantityDecision:
    """What a listing should show on Back Market now, and why it would not be pushed."""

    listing: ListingItem
    status: SyncStatus
    reason: str
    target: int | None = None  # the listing quantity; None when it cannot be computed
    baseline: int = 0  # what Back Market is believed to show
    total: int = 0  # Σ calculated of the mapped variations
    buffer: int = 0
    #: When the newest of the mapped variations' stock changed (None: no stock known).
    stock_as_of: str | None = None

    @property
    def needs_push(self) -> bool:
        if self.status != "pending" or self.target is None or self.target == self.baseline:
            return False
        # 0 and -1 (a double checkout) are both sold out: sending 0 over -1 changes nothing for a buyer.
        return not (self.target == 0 and sold_out(self.baseline))


def decide_quantity(
    listing: ListingItem, levels: Sequence[StockLevel], settings: Settings, *, observed: int | None = None
) -> QuantityDecision:
    """The quantity ``listing`` should show, from its mapped variations' ``levels`` (see
    :func:`mapped_levels`); ``observed`` is what Back Market shows when it was just read."""
    baseline = observed if observed is not None else listing.last_synced
    if baseline is None:
        baseline = listing.bm_quantity
    if listing.sync_status == "gone":
        return QuantityDecision(listing, "gone", GONE, baseline=baseline)
    if settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC:
        if not listing.chosen_variation_ids:
            return QuantityDecision(listing, "product_not_set", PRODUCT_NOT_SET, baseline=baseline)
    elif not levels:
        if listing.connected:
            reason = f"waiting for WholeCell's stock of SKU {listing.sku} (wholecell_watch mirrors it)"
            return QuantityDecision(listing, "pending", reason, baseline=baseline)
        return QuantityDecision(listing, "unmapped", unmapped_reason(listing.sku), baseline=baseline)
    total = sum(level.calculated for level in levels)
    buffer = listing.buffer_override if listing.buffer_override is not None else settings.safety_buffer
    computed: dict[str, Any] = {
        "target": max(0, total - buffer),
        "baseline": baseline,
        "total": total,
        "buffer": buffer,
        "stock_as_of": max((level.as_of for level in levels), default=None),
    }
    if not settings.quantity_sync_enabled:
        return QuantityDecision(listing, "sync_off", SYNC_OFF, **computed)
    if listing.sync_paused:
        return QuantityDecision(listing, "paused", PAUSED, **computed)
    return QuantityDecision(listing, "pending", "", **computed)


class StockSnapshot:
    """The connection's stock mirror read once (one Query), so 3,000 listings cost no read each."""

    def __init__(self, items: dict[str, StockItem]) -> None:
        self.by_variation = items
        self.by_sku: dict[str, list[StockItem]] = {}
        for item in items.values():
            key = sku_key(item.sku)
            if key is not None:
                self.by_sku.setdefault(key, []).append(item)

    def levels(self, listing: ListingItem, settings: Settings) -> list[StockItem]:
        """What :func:`mapped_levels` reads, from the snapshot."""
        if settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC:
            chosen = listing.chosen_variation_ids
            return [self.by_variation[vid] for vid in chosen if vid in self.by_variation]
        return self.by_sku.get(listing.sku_key or "", [])


def mapped_levels(listing: ListingItem, settings: Settings, stock: StockRepository) -> list[StockLevel]:
    """The stock mirror of the variations ``listing`` maps to, read consistently."""
    if settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC:
        # The listing item carries the choice (read consistently; the links' index may lag).
        variation_ids = listing.chosen_variation_ids
        if not variation_ids:
            return []
    else:
        # The index says which variations carry the SKU; their numbers are read consistently (an
        # index lags its table a little, and the stream record that woke us is newer than that).
        variation_ids = [item.variation_id for item in stock.by_sku(listing.sku)]
    return list(stock.get_many(variation_ids).values())


def explain_quantity(
    sku: str, *, settings: Settings, listings: ListingsRepository, stock: StockRepository
) -> list[str]:
    """Why the Back Market quantity of ``sku`` is what it is, following the seed's troubleshooting list."""
    found = listings.by_sku(sku)
    if not found:
        return [not_imported_reason(sku)]
    return [
        f"listing {listing.listing_id}: "
        + (decide_quantity(listing, mapped_levels(listing, settings, stock), settings).reason or "pending")
        for listing in found
    ]


# --- the rules: pushing decisions to Back Market


@dataclass
class _Push:
    """What one sync of one connection shares: its collaborators, its run, and a halt."""

    settings: Settings
    listings: ListingsRepository
    stock: StockRepository
    backmarket: BackMarketListings
    state: SyncStateRepository
    clock: Clock
    run: RunRecord
    decrease_reserve: int
    #: An error only a person can fix stopped this sync: the rest of its pushes are not sent.
    halted: IntegrationError | None = None
    #: Listings whose push failed transiently: the stream retries their records.
    retry: set[str] = field(default_factory=set)
    #: The stock read once for many decisions (the drift check); None: each decision reads its own.
    snapshot: StockSnapshot | None = None
    #: Seconds left before the invocation's timeout (the drift check); None: no limit.
    time_left: Callable[[], float] | None = None

    def decide(
        self, listing: ListingItem, observed: int | None = None, *, reread: bool = False
    ) -> QuantityDecision:
        """``reread``: from the stock as stored now, not the snapshot (a listing another push changed)."""
        levels: Sequence[StockLevel] = (
            self.snapshot.levels(listing, self.settings)
            if self.snapshot is not None and not reread
            else mapped_levels(listing, self.settings, self.stock)
        )
        return decide_quantity(listing, list(levels), self.settings, observed=observed)

    def out_of_time(self) -> bool:
        return self.time_left is not None and self.time_left() < DRIFT_CHECK_RESERVE_SECONDS


def listings_of_variation(
    variation_id: str, skus: Iterable[str | None], *, settings: Settings, listings: ListingsRepository
) -> set[str]:
    """The listings whose quantity a change of this variation (with these SKUs) touches."""
    if settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC:
        return set(listings.listings_of_variation(variation_id))
    return {listing.listing_id for sku in skus if sku for listing in listings.by_sku(sku)}


def sync_listings(
    listing_ids: Iterable[str],
    *,
    settings: Settings,
    listings: ListingsRepository,
    stock: StockRepository,
    backmarket: BackMarketListings,
    state: SyncStateRepository,
    clock: Clock,
    run: RunRecord,
    decrease_reserve: int = DECREASE_RESERVE,
) -> set[str]:
    """Bring each listing's Back Market quantity in line with the stock mirror (one write at most).

    Counts go onto ``run``; returns the listings whose push failed transiently (to be retried).
    """
    push = _Push(settings, listings, stock, backmarket, state, clock, run, decrease_reserve)
    decisions = []
    for listing_id in sorted(set(listing_ids)):
        listing = listings.get(listing_id)
        if listing is not None:
            decisions.append(push.decide(listing))
    _apply(push, decisions)
    return push.retry


def check_drift(
    *,
    settings: Settings,
    listings: ListingsRepository,
    stock: StockRepository,
    backmarket: BackMarketListings,
    state: SyncStateRepository,
    clock: Clock,
    run: RunRecord,
    decrease_reserve: int = DECREASE_RESERVE,
    time_left: Callable[[], float] | None = None,
) -> None:
    """Compare what Back Market shows with the computed quantities; correct and send the deferred.

    The stock is read once for every listing. ``time_left``: the pushes stop
    :data:`DRIFT_CHECK_RESERVE_SECONDS` before the timeout, the rest recorded ``deferred``.
    """
    push = _Push(settings, listings, stock, backmarket, state, clock, run, decrease_reserve)
    push.snapshot, push.time_left = StockSnapshot(stock.all()), time_left
    run.progress = "reading Back Market listings"
    shown: dict[str, ListingLike] = {listing.id: listing for listing in backmarket.iter_listings()}
    decisions = []
    missing = 0
    for listing in listings.all():
        on_backmarket = shown.get(listing.listing_id)
        if on_backmarket is None:
            missing += 1
            continue
        decision = push.decide(listing, observed=on_backmarket.quantity)
        if _sold_since_last_push(listing, on_backmarket.quantity, decision):
            decision = replace(
                decision,
                target=None,
                reason=f"Back Market shows {on_backmarket.quantity}, less than the {listing.last_synced} "
                "sent: most likely a sale WholeCell does not have yet; not raised back (that could "
                "oversell), the order's arrival in WholeCell sets it",
            )
        if listing.bm_quantity != on_backmarket.quantity:
            listings.update_fields(
                listing.listing_id,
                {"bm_quantity": on_backmarket.quantity, "publication_state": on_backmarket.publication_state},
                writer=FLOW,
            )
        decisions.append(decision)
    drifted = sum(1 for decision in decisions if decision.needs_push)
    run.counts.update({"checked": len(decisions), "drifted": drifted, "not_on_backmarket": missing})
    _apply(push, decisions)


def _apply(push: _Push, decisions: list[QuantityDecision]) -> None:
    for name in ("pushed", "deferred", "failed", "errors", "unchanged"):
        push.run.counts.setdefault(name, 0)
    pushed_before = push.run.counts["pushed"]
    to_push = [decision for decision in decisions if decision.needs_push]
    for decision in decisions:
        if not decision.needs_push:
            _record_without_push(push, decision)
    decreases = sorted(
        (decision for decision in to_push if (decision.target or 0) < decision.baseline),
        key=lambda decision: (decision.target != 0, (decision.target or 0) - decision.baseline),
    )
    increases = sorted(
        (decision for decision in to_push if (decision.target or 0) > decision.baseline),
        key=lambda decision: decision.baseline - (decision.target or 0),
    )
    for decision in decreases:
        if not _deferred_for_time(push, decision):
            _push(push, decision)
    for decision in increases:
        if _deferred_for_time(push, decision):
            continue
        # Only the hourly SKU-update budget defers: the 10-second request window comes back within
        # seconds, and the client's limiter waits for it (deferring would cost up to a drift check).
        # Held in the budget every container shares, so two of them never both eat into the reserve.
        if push.backmarket.hold_sku_updates(1, keep=push.decrease_reserve):
            _push(push, decision)
        else:
            _defer(push, decision)
    if push.run.counts["pushed"] > pushed_before:
        # Back Market took a push: the token works, its alerts are resolved.
        clear_attention_alerts(push.state, ("backmarket",), listings=push.listings)
        record_backmarket_budget(
            push.backmarket.sku_updates_remaining(), push.backmarket.requests_remaining()
        )


def _record_without_push(push: _Push, decision: QuantityDecision) -> None:
    listing = decision.listing
    fields: dict[str, Any] = {"sync_status": decision.status, "reason": decision.reason}
    if decision.target is not None:
        fields["last_calculated"] = decision.target
    if decision.status == "pending" and decision.target is not None:
        # Back Market already shows the computed quantity.
        push.run.count("unchanged")
        fields.update(
            sync_status="in_sync",
            reason=f"Back Market shows {decision.target}: nothing to send",
            last_synced=decision.target,
            last_error=None,
        )
        if listing.last_synced != decision.target:
            fields["last_synced_at"] = utc_iso(push.clock.now())
    else:
        push.run.count(f"not_pushed_{decision.status}")
    if any(getattr(listing, name) != value for name, value in fields.items()):
        push.listings.update_fields(listing.listing_id, fields, writer=FLOW)


def _defer(push: _Push, decision: QuantityDecision, reason: str = DEFERRED) -> None:
    push.run.count("deferred")
    push.listings.update_fields(
        decision.listing.listing_id,
        {"sync_status": "deferred", "reason": reason, "last_calculated": decision.target},
        writer=FLOW,
    )


def _deferred_for_time(push: _Push, decision: QuantityDecision) -> bool:
    """Whether the run is too close to its timeout to push: then ``decision`` is deferred."""
    if not push.out_of_time():
        return False
    push.run.count("out_of_time")
    _defer(push, decision, OUT_OF_TIME)
    return True


def _push(push: _Push, decision: QuantityDecision) -> None:
    listing = decision.listing
    target = decision.target or 0
    claimed = push.listings.update_fields(
        listing.listing_id,
        {"sync_seq": listing.sync_seq + 1},
        writer=FLOW,
        expected_sync_seq=listing.sync_seq,
    )
    if not claimed:
        # Another invocation pushed this listing since it was read: decide again from what it stored.
        fresh = push.listings.get(listing.listing_id)
        if fresh is not None and fresh.sync_seq != listing.sync_seq:
            retry = push.decide(fresh, reread=True)
            if retry.needs_push:
                _push(push, retry)
            else:
                _record_without_push(push, retry)
        return
    seq = listing.sync_seq + 1
    republish = sold_out(decision.baseline) and target > 0
    try:
        if push.halted is not None:
            raise push.halted
        shown = push.backmarket.update_listing(
            listing.listing_id, quantity=target, pub_state=PublicationState.ONLINE if republish else None
        )
    except IntegrationError as error:
        _record_failure(push, listing, seq, error)
        return
    except shadow.WriteRecorded:
        # Shadow mode: what Back Market shows stays the baseline, so the first live run decides again.
        push.run.count("would_push")
        push.listings.update_fields(
            listing.listing_id,
            {
                "sync_status": "pending",
                "reason": f"shadow mode: would send {target} to Back Market"
                + (" and put the listing back online" if republish else "")
                + f" (calculated {decision.total}, buffer {decision.buffer}; Back Market shows "
                f"{decision.baseline})",
                "last_calculated": target,
            },
            writer=FLOW,
        )
        return
    push.run.count("pushed")
    if decision.stock_as_of is not None:
        record_latency("QuantitySync", (push.clock.now() - parse_iso(decision.stock_as_of)).total_seconds())
    push.listings.update_fields(
        listing.listing_id,
        {
            "sync_status": "in_sync",
            "reason": f"sent {target} to Back Market"
            + (" and put the listing back online" if republish else "")
            + f" (calculated {decision.total}, buffer {decision.buffer})",
            "last_calculated": target,
            "last_synced": target,
            "last_synced_at": utc_iso(push.clock.now()),
            "last_error": None,
            "bm_quantity": getattr(shown, "quantity", target),
            "publication_state": getattr(shown, "publication_state", None) or listing.publication_state,
        },
        writer=FLOW,
    )
    logger.info(
        "listing quantity pushed",
        extra={"listing_id": listing.listing_id, "quantity": target, "republish": republish, "seq": seq},
    )


def _record_failure(push: _Push, listing: ListingItem, seq: int, error: IntegrationError) -> None:
    if error.status == 404:
        push.listings.update_fields(
            listing.listing_id, {"sync_status": "gone", "reason": GONE, "last_error": str(error)}, writer=FLOW
        )
        push.run.count("errors")
        return
    message = f"Back Market did not take the quantity: {error}" + (
        f" ({error.action})" if error.action else ""
    )
    push.listings.update_fields(
        listing.listing_id,
        {"sync_status": "error", "reason": message, "last_error": str(error)},
        writer=FLOW,
    )
    if error.retryable:
        push.run.count("failed")
        push.retry.add(listing.listing_id)
    else:
        push.run.count("errors")
    if error.needs_attention and push.halted is None:
        # Every other push would fail the same way: the rest of this batch is not sent (the
        # drift check after the fix sends them).
        push.halted = error
        alerts.raise_needs_person(push.state, error, message=message)
    logger.warning(
        "listing quantity not pushed",
        extra={"listing_id": listing.listing_id, "error_type": type(error).__name__, "seq": seq},
    )


def _sold_since_last_push(listing: ListingItem, shown: int, decision: QuantityDecision) -> bool:
    """Back Market lowered the listing itself since bmsync's last push, and the mirror would raise it.

    Back Market decrements a listing when a buyer orders; order_import brings that order into
    WholeCell within a minute. Raising the quantity back before then could sell a unit twice.
    """
    return (
        decision.status == "pending"
        and listing.last_synced is not None
        and shown < listing.last_synced
        and decision.target is not None
        and decision.target > shown
    )


# --- the stream side


def _listings_touched(record: DynamoDBRecord, wired: QuantitySyncWiring) -> set[str]:
    """The listings a ``stock`` or ``listings`` stream record changes the quantity of."""
    stream = record.dynamodb
    if stream is None:
        return set()
    keys = stream.keys or {}
    new_image, old_image = stream.new_image or {}, stream.old_image or {}
    if "variation_id" in keys:
        if new_image and old_image and _same(new_image, old_image, ("calculated", "sku")):
            return set()
        return listings_of_variation(
            str(keys["variation_id"]),
            {new_image.get("sku"), old_image.get("sku")},
            settings=wired.settings,
            listings=wired.listings,
        )
    if "listing_id" in keys and new_image and new_image.get("last_writer") != FLOW:
        return {str(keys["listing_id"])}
    return set()


def _same(new_image: dict[str, Any], old_image: dict[str, Any], names: tuple[str, ...]) -> bool:
    return all(new_image.get(name) == old_image.get(name) for name in names)


def sync_batch(
    records: list[dict[str, Any]], *, wiring_for: Callable[[str], QuantitySyncWiring | None], clock: Clock
) -> tuple[dict[str, RunRecord], list[str]]:
    """One stream batch of ``stock``/``listings`` records: each touched listing synced once.

    Returns each connection's run and the sequence numbers of the records to retry: those whose
    listing hit a transient Back Market failure (Lambda retries them, then sends them to the DLQ)
    or that could not be read. Refused pushes are recorded on the listing instead (retrying cannot
    help).
    """
    wirings: dict[str, QuantitySyncWiring | None] = {}
    touched: list[tuple[str, str, set[str]]] = []  # (sequence number, connection, listing ids)
    unreadable: set[str] = set()
    sequences: list[str] = []
    for raw in records:
        record = DynamoDBRecord(raw)
        sequence = (record.dynamodb.sequence_number if record.dynamodb else None) or ""
        sequences.append(sequence)
        keys = (record.dynamodb.keys if record.dynamodb else None) or {}
        connection_id = str(keys.get("connection_id", ""))
        if not connection_id:
            continue
        try:
            if connection_id not in wirings:
                wirings[connection_id] = wiring_for(connection_id)
            wired = wirings[connection_id]
            listing_ids = _listings_touched(record, wired) if wired is not None else set()
        except Exception:
            logger.exception("stream record not read", extra={"connection_id": connection_id})
            unreadable.add(sequence)
            continue
        if listing_ids:
            touched.append((sequence, connection_id, listing_ids))

    by_connection: dict[str, set[str]] = {}
    for _, connection_id, listing_ids in touched:
        by_connection.setdefault(connection_id, set()).update(listing_ids)
    runs: dict[str, RunRecord] = {}
    retry: set[tuple[str, str]] = set()
    for connection_id, listing_ids in sorted(by_connection.items()):
        wired = wirings[connection_id]
        assert wired is not None  # only connections with a wiring touched listings
        run = stream_run(FLOW, clock)
        try:
            failed = sync_listings(
                listing_ids,
                settings=wired.settings,
                listings=wired.listings,
                stock=wired.stock,
                backmarket=wired.backmarket,
                state=wired.state,
                clock=wired.clock,
                run=run,
                decrease_reserve=wired.decrease_reserve,
            )
        except Exception:
            # Unexpected (e.g. DynamoDB unavailable): every record of the connection is retried.
            logger.exception("quantity sync failed", extra={"connection_id": connection_id})
            failed = set(listing_ids)
            run.count("failed", len(failed))
        runs[connection_id] = finish_stream_run(run, clock, failed=len(failed))
        logger.info(
            "quantity sync batch",
            extra={"connection_id": connection_id, "listings": len(listing_ids), **run.counts},
        )
        retry.update((connection_id, listing_id) for listing_id in failed)
    retried = set(unreadable) | {
        sequence
        for sequence, connection_id, listing_ids in touched
        if any((connection_id, listing_id) in retry for listing_id in listing_ids)
    }
    return runs, [sequence for sequence in sequences if sequence in retried]


# --- wiring and the entry point


@dataclass(frozen=True)
class QuantitySyncWiring:
    """One connection's quantity_sync collaborators, as in production."""

    settings: Settings
    listings: ListingsRepository
    stock: StockRepository
    backmarket: BackMarketListings
    state: SyncStateRepository
    clock: Clock
    decrease_reserve: int = DECREASE_RESERVE


def wire(settings: Settings, clock: Clock) -> QuantitySyncWiring:
    return QuantitySyncWiring(
        settings=settings,
        listings=ListingsRepository(settings.connection_id),
        stock=StockRepository(settings.connection_id),
        backmarket=shadow.backmarket_for(settings, clock),
        state=SyncStateRepository(settings.connection_id, clock),
        clock=clock,
    )


def run_drift_check(wired: QuantitySyncWiring, time_left: Callable[[], float] | None = None) -> RunRecord:
    """One connection's drift check: :func:`check_drift` under its flow's lock."""

    def body(run: RunRecord) -> None:
        check_drift(
            settings=wired.settings,
            listings=wired.listings,
            stock=wired.stock,
            backmarket=wired.backmarket,
            state=wired.state,
            clock=wired.clock,
            run=run,
            decrease_reserve=wired.decrease_reserve,
            time_left=time_left,
        )

    return run_flow(
        DRIFT_FLOW, wired.state, wired.clock, body, services=("backmarket",), listings=wired.listings
    )


def handle(event: dict[str, Any], context: Any, clock: Clock) -> dict[str, Any]:
    """The quantity_sync function: stream batches of ``stock``/``listings`` (partial batch
    responses), and the hourly drift check."""
    start_invocation(FUNCTION)
    if "Records" in event:

        def wiring_for(connection_id: str) -> QuantitySyncWiring | None:
            settings = SettingsRepository().get(connection_id)
            if settings is None:
                logger.warning(
                    "stream record of an unknown connection", extra={"connection_id": connection_id}
                )
                return None
            return wire(settings, clock)

        runs, retry = sync_batch(event["Records"], wiring_for=wiring_for, clock=clock)
        for connection_id, run in runs.items():
            record_run(
                FUNCTION.name, connection_id, run, stream_state=SyncStateRepository(connection_id, clock)
            )
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in retry]}
    scheduled = scheduled_event(event, FUNCTION)

    def drift_checks(payload: dict[str, Any]) -> dict[str, Any]:
        return run_summary(
            FUNCTION,
            (
                (settings.connection_id, run_drift_check(wire(settings, clock), time_left(context)))
                for settings in connections_for(scheduled, context)
            ),
        )

    # A duplicated delivery of one scheduled time must not read every listing twice.
    return run_once(DRIFT_FLOW, scheduled.model_dump(mode="json"), drift_checks, context)
