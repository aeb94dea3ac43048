"""shipment_export: WholeCell shipments -> Back Market (ship, tracking, IMEI).

``capture_new_shipments`` (called by wholecell_watch) records a shipment that appeared on a
``Backmarket`` sales order in WholeCell on the order's item; that write reaches ``export_shipment``
(this function, through the ``orders`` stream), which sends it to Back Market once Back Market shows
the lines accepted. Back Market's ship call is not idempotent, so the export claims the item
("sending", with a lease) before the call and, after a crash, re-reads the Back Market order instead
of sending again. Every minute the function's schedule sends the exports whose retry time has come
(and those whose attempt crashed): nothing else wakes them, as no write happens to their items.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from bmsync import alerts
from bmsync.backmarket.shippers import known_shipper
from bmsync.backmarket.states import CLOSED_LINE_STATES, LineState
from bmsync.catalog import EXPORT_STATES_TO_SEND, OWN_WRITE_ATTRIBUTE, by_name
from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.errors import IntegrationError
from bmsync.observability import logger, record_latency
from bmsync.settings import ORDER_STATUS_LABELS, SALES_CHANNEL, BackMarketOrderStatus, Settings
from bmsync.store.orders_repo import (
    ExportState,
    OrderRecord,
    OrdersRepository,
    ShipmentRecord,
    ShippedUnit,
    apply_wholecell_view,
)
from bmsync.store.settings_repo import SettingsRepository
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync import shadow
from bmsync.sync.flow import (
    connections_for,
    finish_stream_run,
    record_run,
    run_flow,
    run_summary,
    scheduled_event,
    start_invocation,
    stream_run,
)
from bmsync.sync.ports import (
    BackMarketOrder,
    BackMarketOrderLine,
    BackMarketOrders,
    WholeCellSalesOrder,
)

FUNCTION = by_name("shipment_export")
FLOW = "shipment_export"
WRITER = "shipment_export"
#: The scheduled task that sends the exports due for a retry.
RETRY_TASK = "send_due_retries"

#: Transient failures are retried with a doubling delay up to this many attempts, then need a person.
MAX_EXPORT_ATTEMPTS = 6
#: A failure only a person can fix (a revoked token, a firewall block) is no attempt of the shipment's:
#: it is tried again this often, uncounted, so that it goes within a minute of the fix (a doubling
#: delay would leave it waiting up to half an hour after it, and an outage of an hour or so would
#: use up its attempts and leave it to a person twice).
ATTENTION_RETRY = timedelta(minutes=1)
EXPORT_LEASE = timedelta(minutes=2)
#: A whole number in a WholeCell order's external id or notes: maybe its Back Market order number.
WHOLE_NUMBER = re.compile(r"(?<!\d)\d+(?!\d)")
#: ``sync_state`` document: WholeCell sales order id -> the Back Market order a person linked it to in
#: the console (such an order may name no Back Market order: a create whose answer was lost).
LINKED_BY_HAND_DOCUMENT = "orders_linked_by_hand"


def hand_change_note(record: OrderRecord, wholecell_status: str) -> str:
    """Why WholeCell shows a status bmsync did not set ("status not sticking"), or ``""``."""
    if record.wholecell_status is None or wholecell_status == record.wholecell_status:
        return ""
    label = (
        ORDER_STATUS_LABELS[BackMarketOrderStatus(record.bm_status)]
        if record.bm_status
        else "the Back Market state"
    )
    return (
        f"WholeCell status changed by hand to {wholecell_status!r}: {label} maps to "
        f"{record.wholecell_status!r}. bmsync never sends WholeCell status changes to Back Market, and "
        "sets the mapped status again at the next Back Market change; if the mapped status is wrong, "
        "change the order status mapping in the settings."
    )


def shipment_from(sales_order: WholeCellSalesOrder) -> ShipmentRecord | None:
    """The newest shipment of a sales order that has a tracking number, with its committed units."""
    shipments = [shipment for shipment in sales_order.shipments if (shipment.tracking_number or "").strip()]
    if not shipments:
        return None
    latest = max(
        shipments, key=lambda shipment: (shipment.shipped_at is not None, shipment.shipped_at, shipment.id)
    )
    return ShipmentRecord(
        shipment_id=latest.id,
        carrier=(latest.carrier or "").strip() or None,
        tracking_number=(latest.tracking_number or "").strip(),
        tracking_url=(latest.tracking_url or "").strip() or None,
        shipped_at=utc_iso(latest.shipped_at) if latest.shipped_at else None,
        units=[
            ShippedUnit(esn=unit.esn.strip(), product_variation_id=unit.product_variation_id)
            for unit in sales_order.inventories
            if unit.esn and unit.esn.strip()
        ],
    )


def capture_new_shipments(
    sales_orders: Iterable[WholeCellSalesOrder],
    *,
    settings: Settings,
    orders: OrdersRepository,
    clock: Clock,
    linked_by_hand: Mapping[int, str] | None = None,
) -> int:
    """Record on each order's item what changed in WholeCell: a new shipment, a status set by hand.

    ``sales_orders`` are the WholeCell sales orders that changed since wholecell_watch's cursor.
    Only orders of the channel ``Backmarket`` linked to an order item are considered (see
    :func:`order_numbers`). Returns how many order items were written; nothing is written when
    nothing changed.
    """
    # A list, not a map: WholeCell may hold two sales orders with one external id (one made by hand).
    by_hand = linked_by_hand or {}
    ours = [
        (number, sales_order)
        for sales_order in sales_orders
        if sales_order.channel == SALES_CHANNEL
        for number in dict.fromkeys(
            order_numbers(sales_order) + ([by_hand[sales_order.id]] if sales_order.id in by_hand else [])
        )
    ]
    # One batch read for all of them (a full reconciliation hands over every recent sales order);
    # a write only where WholeCell shows something the record does not have yet.
    records = orders.get_many(settings.connection_id, [external_id for external_id, _ in ours])
    written = 0
    for external_id, sales_order in ours:
        record = records.get(external_id)
        if record is None:
            continue
        shipment = shipment_from(sales_order)
        status, note, now = sales_order.status, hand_change_note(record, sales_order.status), clock.now()
        if not apply_wholecell_view(
            record,
            shipment,
            wholecell_order_id=sales_order.id,
            wholecell_status=status,
            status_note=note,
            now=now,
        ):
            continue
        stored = orders.record_wholecell_shipment(
            settings.connection_id,
            external_id,
            shipment,
            wholecell_order_id=sales_order.id,
            wholecell_status=status,
            status_note=note,
            now=now,
        )
        if stored is not None and stored.revision > record.revision:
            written += 1
    return written


def linked_by_hand(state: SyncStateRepository) -> dict[int, str]:
    """The sales orders a person linked in the console, by WholeCell id (see ``capture_new_shipments``)."""
    document = state.get_document(LINKED_BY_HAND_DOCUMENT) or {}
    return {int(wholecell_id): str(order_id) for wholecell_id, order_id in document.items()}


def record_linked_by_hand(state: SyncStateRepository, wholecell_order_id: int, order_id: str) -> None:
    document = state.get_document(LINKED_BY_HAND_DOCUMENT) or {}
    document[str(wholecell_order_id)] = str(order_id)
    state.put_document(LINKED_BY_HAND_DOCUMENT, document)


def order_numbers(sales_order: WholeCellSalesOrder) -> list[str]:
    """The Back Market orders a channel order may belong to: its external id when that is a number
    (what bmsync writes); otherwise every whole number in its external id and notes: an order adopted
    by a mention of its number (cutover), or bmsync's own where WholeCell kept no external id (the
    marker in the notes). Only the item linked to this very WholeCell order takes what it shows."""
    external_id = (sales_order.external_id or "").strip()
    if external_id.isdigit():
        return [external_id]
    return list(dict.fromkeys(WHOLE_NUMBER.findall(f"{external_id} {sales_order.notes or ''}")))


# --- the export


def export_backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def _is_imei(esn: str) -> bool:
    """A 15-digit IMEI with a valid Luhn check digit (Back Market refuses anything else as IMEI)."""
    if len(esn) != 15 or not esn.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(esn)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def identifiers(esn: str) -> dict[str, str]:
    """``imei`` for a valid IMEI, else ``serial_number`` (Back Market accepts up to 50 characters)."""
    if _is_imei(esn):
        return {"imei": esn}
    return {"serial_number": esn[:50]}


@dataclass(frozen=True)
class _Attempt:
    """What one export attempt decided, applied to the order's item in one write."""

    state: ExportState
    reason: str
    sent_key: str | None = None
    #: An error only a person can fix (a revoked token): raised as the connection's critical alert,
    #: and retried every :data:`ATTENTION_RETRY` without counting as an attempt.
    attention: IntegrationError | None = None


def export_shipment(
    order_id: str,
    *,
    settings: Settings,
    backmarket: BackMarketOrders,
    orders: OrdersRepository,
    state: SyncStateRepository,
    clock: Clock,
) -> str:
    """Send the order's recorded shipment to Back Market if it is due; return the export state after.

    Safe to call for any ``orders`` stream record, any number of times: it acts only on a shipment
    that is pending (or due for a retry), and never ships an order Back Market already shows shipped.
    """
    connection_id = settings.connection_id
    owner = uuid.uuid4().hex
    now = clock.now()

    def claim(record: OrderRecord) -> bool:
        if record.shipment is None or not _due(record, now):
            return False
        record.export_state = "sending"
        record.export_owner = owner
        record.export_until = utc_iso(now + EXPORT_LEASE)
        return True

    claimed = orders.update(connection_id, order_id, claim, writer=WRITER, now=now)
    if claimed is None:
        return "none"
    if claimed.export_owner != owner or claimed.export_state != "sending" or claimed.shipment is None:
        return claimed.export_state
    outcome = _attempt(settings, claimed, claimed.shipment, backmarket, clock)
    stored = _record_outcome(orders, claimed, owner, outcome, state, clock)
    logger.info(
        "shipment export",
        extra={"order_id": order_id, "export_state": stored.export_state if stored else None},
    )
    return stored.export_state if stored else outcome.state


def _due(record: OrderRecord, now: datetime) -> bool:
    if record.export_state == "pending":
        return True
    if record.export_state == "failed_retrying":
        return record.export_next_attempt_at is None or parse_iso(record.export_next_attempt_at) <= now
    if record.export_state == "held_unknown_carrier":
        return True  # send_due_retries takes it only once the carrier maps to a shipper Back Market knows
    if record.export_state == "sending":
        # A crashed attempt: after its lease the Back Market order is re-read before anything is sent.
        return record.export_until is None or parse_iso(record.export_until) <= now
    return False


SHADOW_NOT_SENT = "shadow mode: would be sent to Back Market by the first live run"


def _attempt(
    settings: Settings,
    record: OrderRecord,
    shipment: ShipmentRecord,
    backmarket: BackMarketOrders,
    clock: Clock,
) -> _Attempt:
    order_number = record.order_number
    unknown_carrier = unknown_carrier_of(settings, shipment)
    if unknown_carrier is not None:
        # Back Market refuses a shipper it does not know (400): sending would fail every time.
        return _Attempt(
            "held_unknown_carrier",
            f"shipment held: the carrier {unknown_carrier!r} is not a shipper Back Market knows; map it "
            "under Carriers (carrier_map) in the settings (it is sent by itself once it maps)",
        )
    try:
        order = backmarket.get_order(order_number)
        verdict = _verdict(order, shipment, order_number)
        if verdict is not None:
            return verdict
        note = _send(settings, record, order, shipment, backmarket)
        confirmed = backmarket.get_order(order_number)
    except IntegrationError as error:
        return _failure(record, error)
    except shadow.WriteRecorded:
        # Shadow mode: still waiting to be sent; going live sends it (Back Market is read first).
        return _Attempt("pending", f"{SHADOW_NOT_SENT}: tracking {shipment.tracking_number}")
    if _shipped_with(confirmed, shipment.tracking_number):
        return _Attempt(
            "sent", f"sent to Back Market: tracking {shipment.tracking_number}{note}", sent_key=shipment.key
        )
    return _failure(
        record,
        IntegrationError(
            f"Back Market accepted the shipment of order {order_number} but does not show it shipped yet"
        ),
        retryable=True,
    )


def unknown_carrier_of(settings: Settings, shipment: ShipmentRecord) -> str | None:
    """The shipment's carrier when the shipper name it maps to is one Back Market would refuse."""
    shipper = settings.shipper_for(shipment.carrier)
    if shipper is None or known_shipper(shipper) is not None:
        return None
    return shipment.carrier or shipper


def _verdict(order: BackMarketOrder, shipment: ShipmentRecord, order_number: int) -> _Attempt | None:
    """What Back Market's current view of the order means for the export; None = send it now."""
    open_lines = [line for line in order.orderlines if line.state not in CLOSED_LINE_STATES]
    if not open_lines:
        return _Attempt(
            "rejected",
            f"not sent: order {order_number} was cancelled or refunded on Back Market before it shipped",
        )
    if any(line.state == LineState.SHIPPED for line in open_lines):
        if _shipped_with(order, shipment.tracking_number):
            return _Attempt(
                "sent",
                f"Back Market already shows tracking {shipment.tracking_number} (confirmed)",
                sent_key=shipment.key,
            )
        return _Attempt(
            "rejected",
            f"not sent: Back Market already shows order {order_number} shipped with tracking "
            f"{order.tracking_number or '(none)'}; a tracking change must be made on Back Market",
        )
    if any(line.state != LineState.ACCEPTED for line in open_lines):
        return _Attempt(
            "held_not_validated",
            f"shipment held: validate order {order_number} on Back Market first "
            "(it is sent by itself as soon as the validation is seen)",
        )
    return None


def _shipped_with(order: BackMarketOrder, tracking_number: str) -> bool:
    return (order.tracking_number or "").strip() == tracking_number and any(
        line.state == LineState.SHIPPED for line in order.orderlines
    )


def _send(
    settings: Settings,
    record: OrderRecord,
    order: BackMarketOrder,
    shipment: ShipmentRecord,
    backmarket: BackMarketOrders,
) -> str:
    """Ship the order; return a note about identifiers Back Market did not take (ship still counts)."""
    open_lines = [line for line in order.orderlines if line.state not in CLOSED_LINE_STATES]
    single_unit = len(open_lines) == 1 and open_lines[0].quantity == 1
    with_identifier = settings.export_imei and single_unit and len(shipment.units) == 1
    unit_identifiers = identifiers(shipment.units[0].esn) if with_identifier else {}
    backmarket.ship_order(
        order.order_id,
        tracking_number=shipment.tracking_number,
        shipper=known_shipper(settings.shipper_for(shipment.carrier)),  # Back Market's spelling
        tracking_url=shipment.tracking_url,
        date_shipping=parse_iso(shipment.shipped_at) if shipment.shipped_at else None,
        **unit_identifiers,
    )
    if not settings.export_imei or single_unit:
        return ""
    return _send_line_identifiers(record, open_lines, shipment, backmarket)


def _send_line_identifiers(
    record: OrderRecord,
    open_lines: list[BackMarketOrderLine],
    shipment: ShipmentRecord,
    backmarket: BackMarketOrders,
) -> str:
    """Several lines: each single-unit line gets a unit committed against one of its variations."""
    variations_of_line = {line.line_id: set(line.variation_ids) for line in record.lines}
    unused = list(shipment.units)
    problems: list[str] = []
    for line in open_lines:
        if line.quantity != 1:
            continue
        unit = next(
            (unit for unit in unused if unit.product_variation_id in variations_of_line.get(line.id, set())),
            None,
        )
        if unit is None:
            continue
        unused.remove(unit)
        try:
            backmarket.set_orderline_identifiers(line.id, **identifiers(unit.esn))
        except IntegrationError as error:
            problems.append(f"line {line.listing}: {error.message}")
    return f"; identifiers not accepted ({'; '.join(problems)})" if problems else ""


def _failure(record: OrderRecord, error: IntegrationError, *, retryable: bool | None = None) -> _Attempt:
    transient = error.retryable if retryable is None else retryable
    detail = error.message + (f" ({error.action})" if error.action else "")
    attention = error if error.needs_attention else None
    if attention:
        return _Attempt(
            "failed_retrying", f"Back Market did not take the shipment yet: {detail}", attention=attention
        )
    if transient:
        if record.export_attempts + 1 >= MAX_EXPORT_ATTEMPTS:
            return _Attempt("failed", f"not sent after {MAX_EXPORT_ATTEMPTS} attempts: {detail}")
        return _Attempt("failed_retrying", f"Back Market did not take the shipment yet: {detail}")
    return _Attempt("rejected", f"Back Market refused the shipment: {detail}")


def _record_outcome(
    orders_repo: OrdersRepository,
    claimed: OrderRecord,
    owner: str,
    outcome: _Attempt,
    state: SyncStateRepository,
    clock: Clock,
) -> OrderRecord | None:
    now = clock.now()

    def apply(record: OrderRecord) -> bool:
        if record.export_owner != owner:
            return False
        record.export_state = outcome.state
        record.export_reason = outcome.reason
        record.export_owner = None
        record.export_until = None
        if outcome.sent_key:
            record.exported_key = outcome.sent_key
            record.export_attempts = 0
            record.export_next_attempt_at = None
        elif outcome.state == "failed_retrying" and outcome.attention is not None:
            record.export_next_attempt_at = utc_iso(now + ATTENTION_RETRY)
        elif outcome.state == "failed_retrying":
            record.export_attempts += 1
            record.export_next_attempt_at = utc_iso(now + export_backoff(record.export_attempts))
        record.add_history(now, outcome.reason)
        return True

    stored = orders_repo.update(claimed.connection_id, claimed.order_id, apply, writer=WRITER, now=now)
    carrier = claimed.shipment.carrier if claimed.shipment is not None else None
    if outcome.state in ("rejected", "failed"):
        alerts.SHIPMENT_NOT_SENT.raise_on(state, order_id=claimed.order_id, reason=outcome.reason)
    elif outcome.state == "held_unknown_carrier":
        alerts.SHIPMENT_UNKNOWN_CARRIER.raise_on(
            state, carrier_key=(carrier or "").strip().lower(), carrier=carrier, order_id=claimed.order_id
        )
    elif outcome.state == "sent":
        alerts.SHIPMENT_NOT_SENT.clear_on(state, order_id=claimed.order_id)
        alerts.SHIPMENT_UNKNOWN_CARRIER.clear_on(state, carrier_key=(carrier or "").strip().lower())
        if claimed.shipment is not None and claimed.shipment.shipped_at:
            shipped_at = parse_iso(claimed.shipment.shipped_at)
            record_latency("ShipmentExport", (now - shipped_at).total_seconds())
    if outcome.attention is not None:
        alerts.raise_needs_person(state, outcome.attention)
    return stored


def send_due_retries(
    *,
    settings: Settings,
    backmarket: BackMarketOrders,
    orders: OrdersRepository,
    state: SyncStateRepository,
    clock: Clock,
    run: RunRecord,
) -> None:
    """Send the exports whose retry time has come, or whose attempt crashed (after its lease), and
    those held for an unknown carrier once the settings map it to a shipper Back Market knows.

    The index read may lag: ``export_shipment`` re-reads each item and acts only when it is due.
    """
    now = clock.now()
    candidates = [
        *orders.list_by_export_state(settings.connection_id, "failed_retrying"),
        *orders.list_by_export_state(settings.connection_id, "sending"),
        *(
            held
            for held in orders.list_by_export_state(settings.connection_id, "held_unknown_carrier")
            if held.shipment is not None and unknown_carrier_of(settings, held.shipment) is None
        ),
    ]
    for candidate in candidates:
        if not _due(candidate, now):
            continue
        export_state = export_shipment(
            candidate.order_id,
            settings=settings,
            backmarket=backmarket,
            orders=orders,
            state=state,
            clock=clock,
        )
        run.count("retried")
        run.count(export_state)
    run.progress = f"{run.counts.get('retried', 0)} due exports sent again"


def export_for_image(new_image: Mapping[str, Any], clock: Clock) -> str:
    """shipment_export for one ``orders`` stream record's new image; returns the export state after.

    Works from the stored item, not the image (a replayed or late record sees today's state), so a
    duplicate record never sends twice.
    """
    if new_image.get(OWN_WRITE_ATTRIBUTE) == WRITER:
        return "ignored"
    if new_image.get("export_state") not in EXPORT_STATES_TO_SEND:
        return "ignored"
    connection_id, order_id = str(new_image["connection_id"]), str(new_image["order_id"])
    settings = SettingsRepository().get(connection_id)
    if settings is None:
        logger.warning("shipment for an unknown connection", extra={"connection_id": connection_id})
        return "ignored"
    wired = wire(settings, clock)
    return export_shipment(
        order_id,
        settings=settings,
        backmarket=wired.backmarket,
        orders=wired.orders,
        state=wired.state,
        clock=clock,
    )


def export_batch(records: list[dict[str, Any]], clock: Clock) -> tuple[dict[str, RunRecord], list[str]]:
    """One ``orders`` stream batch: each record's export; each connection's run, and the records
    to retry.

    A record that fails unexpectedly (e.g. DynamoDB unavailable) is retried by the stream (and,
    after its retries, goes to the dead-letter queue); export outcomes are on the order's item.
    """
    runs: dict[str, RunRecord] = {}
    failed: dict[str, int] = {}
    retry: list[str] = []
    for raw in records:
        record = DynamoDBRecord(raw)
        stream = record.dynamodb
        image = (stream.new_image if stream else None) or {}
        connection_id = str(image.get("connection_id", ""))
        run = runs.setdefault(connection_id, stream_run(FLOW, clock))
        try:
            export_state = export_for_image(image, clock)
        except Exception:
            logger.exception("shipment export failed", extra={"event_id": record.event_id})
            retry.append((stream.sequence_number if stream else None) or "")
            failed[connection_id] = failed.get(connection_id, 0) + 1
            continue
        run.count(export_state)
    finished = {
        connection_id: finish_stream_run(run, clock, failed=failed.get(connection_id, 0))
        for connection_id, run in runs.items()
    }
    return finished, retry


# --- wiring and the entry point


@dataclass(frozen=True)
class ShipmentExportWiring:
    """One connection's shipment_export collaborators, as in production."""

    settings: Settings
    backmarket: BackMarketOrders
    orders: OrdersRepository
    state: SyncStateRepository
    clock: Clock


def wire(settings: Settings, clock: Clock) -> ShipmentExportWiring:
    return ShipmentExportWiring(
        settings=settings,
        backmarket=shadow.backmarket_for(settings, clock),
        orders=OrdersRepository(finished_retention=settings.finished_order_retention),
        state=SyncStateRepository(settings.connection_id, clock),
        clock=clock,
    )


def run_connection(wired: ShipmentExportWiring) -> RunRecord:
    """One connection's scheduled run: :func:`send_due_retries` under the flow's lock."""

    def body(run: RunRecord) -> None:
        send_due_retries(
            settings=wired.settings,
            backmarket=wired.backmarket,
            orders=wired.orders,
            state=wired.state,
            clock=wired.clock,
            run=run,
        )

    return run_flow(FLOW, wired.state, wired.clock, body, services=("backmarket",))


def handle(event: dict[str, Any], context: Any, clock: Clock) -> dict[str, Any]:
    """The shipment_export function: ``orders`` stream batches (partial batch responses), and every
    minute the exports due for a retry."""
    start_invocation(FUNCTION)
    if "Records" in event:
        runs, retry = export_batch(event["Records"], clock)
        for connection_id, run in runs.items():
            if not connection_id:
                continue  # records without a connection (logged): nothing to show them on
            record_run(
                FUNCTION.name, connection_id, run, stream_state=SyncStateRepository(connection_id, clock)
            )
            logger.info("shipment export batch", extra={"connection_id": connection_id, "counts": run.counts})
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in retry]}
    scheduled = scheduled_event(event, FUNCTION)
    return run_summary(
        FUNCTION,
        (
            (settings.connection_id, run_connection(wire(settings, clock)))
            for settings in connections_for(scheduled, context)
        ),
    )
