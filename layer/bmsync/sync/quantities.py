"""quantity_sync: Back Market listing quantities from the WholeCell stock mirror.

For each listing a change touches: quantity = max(0, Σ calculated of its mapped variations − safety
buffer), pushed to Back Market only when it differs from the last value synced (or, for the drift
check, from what Back Market shows). Many changes of one listing in a batch become one write.
Decreases go first (to zero first, then the largest), then increases by size; increases wait while the
hourly SKU-update budget is down to the reserve kept for decreases, and stay recorded as ``deferred``
until the next drift check sends them — never dropped. (The 10-second request window never defers:
the client's limiter waits the seconds it takes.) A listing coming back from 0 is
republished (``pub_state`` 2).

Idempotency: every decision is made from the stored state, never from the record alone, so a
replayed or duplicated stream record finds nothing left to send. A push is claimed first with a
conditional write on the listing's ``sync_seq``: two invocations racing on one listing never both send.

Why a listing is not pushed is always on the listing (``sync_status`` + ``reason``), in the order of
the seed's troubleshooting list: imported? connected? quantity sync enabled?
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from bmsync.clock import Clock, utc_iso
from bmsync.errors import IntegrationError
from bmsync.events import ScheduledEvent
from bmsync.observability import logger
from bmsync.secrets import SecretMissing
from bmsync.settings import ProductVariationMode, Settings
from bmsync.store.idempotency import run_once
from bmsync.store.listings_repo import PRODUCT_NOT_SET, ListingItem, ListingsRepository, SyncStatus
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.stock_repo import StockRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync.flow import ATTENTION_ERRORS, attention_alert_id, run_flow
from bmsync.sync.ports import BackMarketListings, ListingLike
from bmsync.sync.scheduled import connections_for, run_summary

FLOW = "quantity_sync"
DRIFT_FLOW = "quantity_sync.drift_check"
ONLINE = 2
#: SKU updates (and requests) kept for decreases: increases wait when the budget is down to this.
DECREASE_RESERVE = 20
TOKEN_MISSING_ALERT = "backmarket-token-missing"  # noqa: S105 (an alert id, not a secret)

SYNC_OFF = "quantity sync is off: enable Inventory Quantity Sync in the settings"
PAUSED = "quantity sync is paused for this listing in the admin"
DEFERRED = "not pushed: deferred by the SKU-update budget; the next drift check sends it"
GONE = "Back Market no longer has this listing: nothing is pushed (import listings again if it came back)"


def unmapped_reason(sku: str) -> str:
    return f"SKU {sku} is not on any product variation in WholeCell: add it to at least one variation"


def not_imported_reason(sku: str) -> str:
    return f"no listing with SKU {sku} has been imported from Back Market: run Import listings"


@dataclass(frozen=True)
class Evaluation:
    """What a listing should show on Back Market now, and why it would not be pushed."""

    listing: ListingItem
    status: SyncStatus
    reason: str
    target: int | None = None  # the listing quantity; None when it cannot be computed
    baseline: int = 0  # what Back Market is believed to show
    total: int = 0  # Σ calculated of the mapped variations
    buffer: int = 0

    @property
    def needs_push(self) -> bool:
        return self.status == "pending" and self.target is not None and self.target != self.baseline


@dataclass
class SyncReport:
    pushed: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # transient failures: the stream retries them
    errors: list[str] = field(default_factory=list)  # refused pushes, recorded on the listing
    unchanged: int = 0
    not_pushed: dict[str, int] = field(default_factory=dict)  # sync_status -> count

    def counts(self) -> dict[str, int]:
        return {
            "pushed": len(self.pushed),
            "deferred": len(self.deferred),
            "failed": len(self.failed),
            "errors": len(self.errors),
            "unchanged": self.unchanged,
            **{f"not_pushed_{status}": count for status, count in sorted(self.not_pushed.items())},
        }


class QuantitySync:
    """Quantity sync for one connection; collaborators are passed in (fakes in tests)."""

    def __init__(
        self,
        settings: Settings,
        *,
        listings: ListingsRepository,
        stock: StockRepository,
        backmarket: Callable[[], BackMarketListings],
        state: SyncStateRepository,
        clock: Clock,
        decrease_reserve: int = DECREASE_RESERVE,
    ) -> None:
        self.settings = settings
        self.listings = listings
        self.stock = stock
        self._backmarket_factory = backmarket
        self._backmarket: BackMarketListings | None = None
        self.state = state
        self.clock = clock
        self.decrease_reserve = decrease_reserve
        self._halted: IntegrationError | SecretMissing | None = None

    @property
    def backmarket(self) -> BackMarketListings:
        if self._backmarket is None:
            self._backmarket = self._backmarket_factory()
        return self._backmarket

    # -- which listings a change touches
    def listings_of_variation(self, variation_id: str, skus: Iterable[str | None]) -> set[str]:
        if self.settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC:
            return set(self.listings.listings_of_variation(variation_id))
        return {listing.listing_id for sku in skus if sku for listing in self.listings.by_sku(sku)}

    # -- deciding
    def evaluate(self, listing: ListingItem, observed: int | None = None) -> Evaluation:
        baseline = observed if observed is not None else listing.last_synced
        if baseline is None:
            baseline = listing.bm_quantity
        if listing.sync_status == "gone":
            return Evaluation(listing, "gone", GONE, baseline=baseline)
        if self.settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC:
            # The listing item carries the choice (read consistently; the links' index may lag).
            variation_ids = listing.chosen_variation_ids
            if not variation_ids:
                return Evaluation(listing, "product_not_set", PRODUCT_NOT_SET, baseline=baseline)
            total = sum(item.calculated for item in self.stock.get_many(variation_ids).values())
        else:
            # The index says which variations carry the SKU; their numbers are read consistently (an
            # index lags its table a little, and the stream record that woke us is newer than that).
            variation_ids = [item.variation_id for item in self.stock.by_sku(listing.sku)]
            items = list(self.stock.get_many(variation_ids).values())
            if not items:
                if listing.connected:
                    reason = (
                        f"waiting for WholeCell's stock of SKU {listing.sku} (wholecell_watch mirrors it)"
                    )
                    return Evaluation(listing, "pending", reason, baseline=baseline)
                return Evaluation(listing, "unmapped", unmapped_reason(listing.sku), baseline=baseline)
            total = sum(item.calculated for item in items)
        buffer = (
            listing.buffer_override if listing.buffer_override is not None else self.settings.safety_buffer
        )
        target = max(0, total - buffer)
        computed = {"target": target, "baseline": baseline, "total": total, "buffer": buffer}
        if not self.settings.quantity_sync_enabled:
            return Evaluation(listing, "sync_off", SYNC_OFF, **computed)
        if listing.sync_paused:
            return Evaluation(listing, "paused", PAUSED, **computed)
        return Evaluation(listing, "pending", "", **computed)

    # -- syncing
    def sync(self, listing_ids: Iterable[str]) -> SyncReport:
        """Bring each listing's Back Market quantity in line with the stock mirror (one write at most)."""
        evaluations = []
        for listing_id in sorted(set(listing_ids)):
            listing = self.listings.get(listing_id)
            if listing is not None:
                evaluations.append(self.evaluate(listing))
        return self._apply(evaluations)

    def drift_check(self, run: RunRecord) -> SyncReport:
        """Compare what Back Market shows with the computed quantities; correct and send the deferred."""
        run.progress = "reading Back Market listings"
        shown: dict[str, ListingLike] = {listing.id: listing for listing in self.backmarket.iter_listings()}
        evaluations = []
        missing = 0
        for listing in self.listings.all():
            on_backmarket = shown.get(listing.listing_id)
            if on_backmarket is None:
                missing += 1
                continue
            evaluation = self.evaluate(listing, observed=on_backmarket.quantity)
            if _sold_since_last_push(listing, on_backmarket.quantity, evaluation):
                evaluation = replace(
                    evaluation,
                    target=None,
                    reason=f"Back Market shows {on_backmarket.quantity}, less than the {listing.last_synced} "
                    "sent: most likely a sale WholeCell does not have yet; not raised back (that could "
                    "oversell), the order's arrival in WholeCell sets it",
                )
            if listing.bm_quantity != on_backmarket.quantity:
                self.listings.update_fields(
                    listing.listing_id,
                    {
                        "bm_quantity": on_backmarket.quantity,
                        "publication_state": on_backmarket.publication_state,
                    },
                    writer=FLOW,
                )
            evaluations.append(evaluation)
        drifted = sum(1 for evaluation in evaluations if evaluation.needs_push)
        report = self._apply(evaluations)
        run.counts.update({"checked": len(evaluations), "drifted": drifted, "not_on_backmarket": missing})
        run.counts.update(report.counts())
        return report

    def _apply(self, evaluations: list[Evaluation]) -> SyncReport:
        report = SyncReport()
        to_push = [evaluation for evaluation in evaluations if evaluation.needs_push]
        for evaluation in evaluations:
            if not evaluation.needs_push:
                self._record_without_push(evaluation, report)
        decreases = sorted(
            (evaluation for evaluation in to_push if (evaluation.target or 0) < evaluation.baseline),
            key=lambda evaluation: (evaluation.target != 0, (evaluation.target or 0) - evaluation.baseline),
        )
        increases = sorted(
            (evaluation for evaluation in to_push if (evaluation.target or 0) > evaluation.baseline),
            key=lambda evaluation: evaluation.baseline - (evaluation.target or 0),
        )
        for evaluation in decreases:
            self._push(evaluation, report)
        for evaluation in increases:
            if self._budget_left() > self.decrease_reserve:
                self._push(evaluation, report)
            else:
                self._defer(evaluation, report)
        if report.pushed:
            # Back Market took a push: the token works, its alerts are resolved.
            self.state.clear_alerts(
                (TOKEN_MISSING_ALERT, *(f"backmarket-{name}" for name in ATTENTION_ERRORS))
            )
        return report

    def _budget_left(self) -> int:
        # Only the hourly SKU-update budget defers: the 10-second request window comes back within
        # seconds, and the client's limiter waits for it (deferring would cost up to a drift check).
        return self.backmarket.sku_updates_remaining()

    def _record_without_push(self, evaluation: Evaluation, report: SyncReport) -> None:
        listing = evaluation.listing
        fields: dict[str, Any] = {"sync_status": evaluation.status, "reason": evaluation.reason}
        if evaluation.target is not None:
            fields["last_calculated"] = evaluation.target
        if evaluation.status == "pending" and evaluation.target is not None:
            # Back Market already shows the computed quantity.
            report.unchanged += 1
            fields.update(
                sync_status="in_sync",
                reason=f"Back Market shows {evaluation.target}: nothing to send",
                last_synced=evaluation.target,
                last_error=None,
            )
            if listing.last_synced != evaluation.target:
                fields["last_synced_at"] = utc_iso(self.clock.now())
        else:
            report.not_pushed[evaluation.status] = report.not_pushed.get(evaluation.status, 0) + 1
        if any(getattr(listing, name) != value for name, value in fields.items()):
            self.listings.update_fields(listing.listing_id, fields, writer=FLOW)

    def _defer(self, evaluation: Evaluation, report: SyncReport) -> None:
        report.deferred.append(evaluation.listing.listing_id)
        self.listings.update_fields(
            evaluation.listing.listing_id,
            {"sync_status": "deferred", "reason": DEFERRED, "last_calculated": evaluation.target},
            writer=FLOW,
        )

    def _push(self, evaluation: Evaluation, report: SyncReport) -> None:
        listing = evaluation.listing
        target = evaluation.target or 0
        claimed = self.listings.update_fields(
            listing.listing_id,
            {"sync_seq": listing.sync_seq + 1},
            writer=FLOW,
            expected_sync_seq=listing.sync_seq,
        )
        if not claimed:
            # Another invocation pushed this listing since it was read: decide again from what it stored.
            fresh = self.listings.get(listing.listing_id)
            if fresh is not None and fresh.sync_seq != listing.sync_seq:
                retry = self.evaluate(fresh)
                if retry.needs_push:
                    self._push(retry, report)
                else:
                    self._record_without_push(retry, report)
            return
        seq = listing.sync_seq + 1
        republish = evaluation.baseline == 0 and target > 0
        try:
            if self._halted is not None:
                raise self._halted
            shown = self.backmarket.update_listing(
                listing.listing_id, quantity=target, pub_state=ONLINE if republish else None
            )
        except (IntegrationError, SecretMissing) as error:
            self._record_failure(listing, seq, error, report)
            return
        report.pushed.append(listing.listing_id)
        self.listings.update_fields(
            listing.listing_id,
            {
                "sync_status": "in_sync",
                "reason": f"sent {target} to Back Market"
                + (" and put the listing back online" if republish else "")
                + f" (calculated {evaluation.total}, buffer {evaluation.buffer})",
                "last_calculated": target,
                "last_synced": target,
                "last_synced_at": utc_iso(self.clock.now()),
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

    def _record_failure(
        self, listing: ListingItem, seq: int, error: IntegrationError | SecretMissing, report: SyncReport
    ) -> None:
        status = getattr(error, "status", None)
        if status == 404:
            self.listings.update_fields(
                listing.listing_id,
                {"sync_status": "gone", "reason": GONE, "last_error": str(error)},
                writer=FLOW,
            )
            report.errors.append(listing.listing_id)
            return
        action = getattr(error, "action", "") or (
            "set the Back Market token in the admin" if isinstance(error, SecretMissing) else ""
        )
        message = f"Back Market did not take the quantity: {error}" + (f" ({action})" if action else "")
        self.listings.update_fields(
            listing.listing_id,
            {"sync_status": "error", "reason": message, "last_error": str(error)},
            writer=FLOW,
        )
        if getattr(error, "retryable", False):
            report.failed.append(listing.listing_id)
        else:
            report.errors.append(listing.listing_id)
        needs_person = getattr(error, "needs_attention", False) or isinstance(error, SecretMissing)
        if needs_person and self._halted is None:
            # Every other push would fail the same way: the rest of this batch is not sent (the
            # drift check after the fix sends them).
            self._halted = error
            self.state.raise_alert(
                attention_alert_id(error) if isinstance(error, IntegrationError) else TOKEN_MISSING_ALERT,
                message,
                severity="critical",
                action=action or "check the Back Market connection in the admin",
                subject="connection",
            )
        logger.warning(
            "listing quantity not pushed",
            extra={"listing_id": listing.listing_id, "error_type": type(error).__name__, "seq": seq},
        )


def _sold_since_last_push(listing: ListingItem, shown: int, evaluation: Evaluation) -> bool:
    """Back Market lowered the listing itself since bmsync's last push, and the mirror would raise it.

    Back Market decrements a listing when a buyer orders; order_import brings that order into
    WholeCell within a minute. Raising the quantity back before then could sell a unit twice.
    """
    return (
        evaluation.status == "pending"
        and listing.last_synced is not None
        and shown < listing.last_synced
        and evaluation.target is not None
        and evaluation.target > shown
    )


def explain_quantity(sync: QuantitySync, sku: str) -> list[str]:
    """Why the Back Market quantity of ``sku`` is what it is, following the seed's troubleshooting list."""
    listings = sync.listings.by_sku(sku)
    if not listings:
        return [not_imported_reason(sku)]
    return [
        f"listing {listing.listing_id}: {sync.evaluate(listing).reason or 'pending'}" for listing in listings
    ]


# --- the stream side


class ListingBatchProcessor(BatchProcessor):
    """A DynamoDB-stream batch processor that syncs each touched listing once per batch.

    ``collect`` (the record handler) only finds the listings a record touches; when the batch has
    been read, each listing is synced once. A record whose listing hit a transient Back Market failure
    is reported in ``batchItemFailures`` so Lambda retries it (and, after the retries, sends it to the
    DLQ); refused pushes are recorded on the listing instead (retrying cannot help).
    """

    def __init__(self, sync_for: Callable[[str], QuantitySync | None]) -> None:
        # A batch whose every record failed is reported like any partial failure (Lambda retries it).
        super().__init__(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
        self._sync_for = sync_for
        self._syncs: dict[str, QuantitySync | None] = {}
        self._touched: list[tuple[DynamoDBRecord, str, set[str]]] = []
        self.reports: dict[str, SyncReport] = {}

    def _prepare(self) -> None:
        super()._prepare()
        self._syncs.clear()
        self._touched.clear()
        self.reports = {}

    def _sync(self, connection_id: str) -> QuantitySync | None:
        if connection_id not in self._syncs:
            self._syncs[connection_id] = self._sync_for(connection_id)
        return self._syncs[connection_id]

    def collect(self, record: DynamoDBRecord) -> int:
        """Record handler: note the listings this record touches; returns how many."""
        stream = record.dynamodb
        if stream is None:
            return 0
        keys = stream.keys or {}
        new_image, old_image = stream.new_image or {}, stream.old_image or {}
        connection_id = str(keys.get("connection_id", ""))
        sync = self._sync(connection_id) if connection_id else None
        if sync is None:
            return 0
        touched: set[str] = set()
        if "variation_id" in keys:
            if new_image and old_image and _same(new_image, old_image, ("calculated", "sku")):
                return 0
            skus = {new_image.get("sku"), old_image.get("sku")}
            touched = sync.listings_of_variation(str(keys["variation_id"]), skus)
        elif "listing_id" in keys and new_image and new_image.get("last_writer") != FLOW:
            touched = {str(keys["listing_id"])}
        if touched:
            self._touched.append((record, connection_id, touched))
        return len(touched)

    def _clean(self) -> None:
        by_connection: dict[str, set[str]] = {}
        for _, connection_id, listing_ids in self._touched:
            by_connection.setdefault(connection_id, set()).update(listing_ids)
        retry: set[tuple[str, str]] = set()
        for connection_id, listing_ids in sorted(by_connection.items()):
            sync = self._syncs[connection_id]
            assert sync is not None  # only connections with a sync were collected
            try:
                report = sync.sync(listing_ids)
            except Exception:
                # Unexpected (e.g. DynamoDB unavailable): every record of the connection is retried.
                logger.exception("quantity sync failed", extra={"connection_id": connection_id})
                report = SyncReport(failed=sorted(listing_ids))
            self.reports[connection_id] = report
            logger.info(
                "quantity sync batch",
                extra={"connection_id": connection_id, "listings": len(listing_ids), **report.counts()},
            )
            retry.update((connection_id, listing_id) for listing_id in report.failed)
        for record, connection_id, listing_ids in self._touched:
            if any((connection_id, listing_id) in retry for listing_id in listing_ids):
                self._fail(record)
        super()._clean()

    def _fail(self, record: DynamoDBRecord) -> None:
        sequence = record.dynamodb.sequence_number if record.dynamodb else None
        self.success_messages[:] = [
            message
            for message in self.success_messages
            if not (
                isinstance(message, dict) and message.get("dynamodb", {}).get("SequenceNumber") == sequence
            )
        ]
        error = RuntimeError("a listing of this record was not pushed (transient Back Market failure)")
        self.failure_handler(record, (type(error), error, None))


def _same(new_image: dict[str, Any], old_image: dict[str, Any], names: tuple[str, ...]) -> bool:
    return all(new_image.get(name) == old_image.get(name) for name in names)


# --- entry points (the handler calls these)


def quantity_sync_for(connection_id: str, clock: Clock) -> QuantitySync | None:
    """The production wiring of one connection; ``None`` when the connection has no settings."""
    settings = SettingsRepository().get(connection_id)
    if settings is None:
        logger.warning("stream record of an unknown connection", extra={"connection_id": connection_id})
        return None
    return _wired(settings, clock)


def _wired(settings: Settings, clock: Clock) -> QuantitySync:
    from bmsync.backmarket import client_for

    return QuantitySync(
        settings,
        listings=ListingsRepository(settings.connection_id),
        stock=StockRepository(settings.connection_id),
        backmarket=lambda: client_for(settings, clock),
        state=SyncStateRepository(settings.connection_id, clock),
        clock=clock,
    )


def run_drift_check(sync: QuantitySync) -> RunRecord:
    def body(run: RunRecord) -> None:
        sync.drift_check(run)

    return run_flow(DRIFT_FLOW, sync.state, sync.clock, body, services=("backmarket",))


def handle_event(event: dict[str, Any], context: Any, clock: Clock) -> dict[str, Any]:
    """The quantity_sync function: stream batches of ``stock``/``listings``, or the drift check."""
    if "Records" in event:
        processor = ListingBatchProcessor(lambda connection_id: quantity_sync_for(connection_id, clock))
        return dict(process_partial_response(event, processor.collect, processor, context))
    scheduled = ScheduledEvent.model_validate(event)
    if scheduled.task not in (None, "drift_check"):
        raise ValueError(f"quantity_sync has no task {scheduled.task!r} (known: drift_check)")

    def drift_checks(payload: dict[str, Any]) -> dict[str, Any]:
        return run_summary(
            {
                settings.connection_id: run_drift_check(_wired(settings, clock))
                for settings in connections_for(scheduled)
            }
        )

    # A duplicated delivery of one scheduled time must not read every listing twice.
    return run_once(DRIFT_FLOW, scheduled.model_dump(mode="json"), drift_checks, context)
