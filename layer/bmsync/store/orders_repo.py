"""The ``orders`` table: one item per Back Market order, written by order_import, wholecell_watch and
shipment_export (and read by the admin's doctor).

Three functions write the same item, so every write is a read-modify-write guarded by the item's
``revision`` (optimistic locking): a concurrent writer makes the loser re-read and re-apply its change,
never overwrite the other's. Creating the WholeCell order is guarded separately by an import *claim*
(a lease on the item), so exactly one WholeCell order exists per Back Market order.

A finished order's item (its order and tracking numbers lead to the buyer) gets ``expires_at`` when
the write that finishes it is saved, and DynamoDB's TTL deletes it after the connection's
``finished_order_retention_days`` (docs/data.md). order_import looks a finished order it has no item
for up in WholeCell before creating it, so an expired order read again is never imported twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from bmsync.clock import utc_iso
from bmsync.store.dynamo import batch_get, from_dynamo, paginate, table, to_dynamo
from bmsync.store.tables import ORDERS

ImportState = Literal["new", "creating", "imported", "not_imported", "needs_confirmation"]
ExportState = Literal[
    "none",
    "held_not_validated",
    "held_unknown_carrier",
    "pending",
    "sending",
    "sent",
    "rejected",
    "failed_retrying",
    "failed",
]

#: The newest events kept on an item (enough to explain an order; items stay far below 400 KB).
HISTORY_LIMIT = 60
_SAVE_ATTEMPTS = 8


class OrderLineRecord(BaseModel):
    line_id: int
    sku: str
    quantity: int = 1
    state: int
    product: str = ""
    #: The line's price: Back Market's ``price`` is the line total (every unit), in the order's currency.
    price_cents: int = 0
    #: Each unit's price (together exactly ``price_cents``), as booked on the WholeCell items.
    unit_prices_cents: list[int] = Field(default_factory=list)
    #: The WholeCell variations the line maps to (every variation of the SKU in *Match via SKU*, the
    #: chosen one otherwise); empty = imported as an "Unknown SKU" item.
    variation_ids: list[int] = Field(default_factory=list)
    unknown_sku: bool = False


class ShippedUnit(BaseModel):
    esn: str
    product_variation_id: int | None = None


class ShipmentRecord(BaseModel):
    """A shipment as WholeCell shows it (entered by a person or imported from ShipStation)."""

    shipment_id: int | None = None
    carrier: str | None = None
    tracking_number: str
    tracking_url: str | None = None
    shipped_at: str | None = None
    units: list[ShippedUnit] = Field(default_factory=list)

    @property
    def key(self) -> str:
        """What makes it a different shipment for Back Market (units may be committed later)."""
        return f"{self.shipment_id or ''}|{self.tracking_number}"


class ValidationRecord(BaseModel):
    at: str
    sku: str
    action: Literal["accepted", "cancelled", "waiting", "failed"]
    reason: str


class HistoryEvent(BaseModel):
    at: str
    event: str


class OrderRecord(BaseModel):
    """The stored state of one Back Market order. Plain-words fields are what the doctor shows."""

    connection_id: str
    order_id: str
    revision: int = 0
    # Back Market's side, as last read
    bm_state: int | None = None
    bm_status: str | None = None
    bm_date_modification: str | None = None
    #: The order's currency (ISO code) and market (``de-de``), as Back Market gives them: amounts are
    #: never converted.
    currency: str | None = None
    market: str | None = None
    #: The order is priced in another currency than the connection's account currency (flagged).
    currency_mismatch: bool = False
    lines: list[OrderLineRecord] = Field(default_factory=list)
    # the import into WholeCell
    import_state: ImportState = "new"
    import_status: str = ""
    claim_owner: str | None = None
    claim_until: str | None = None
    #: The current claim took over one that did not finish: look the order up before creating it.
    import_interrupted: bool = False
    #: Found in WholeCell, created there by another integration (WholeCell's own): linked, not created.
    adopted: bool = False
    #: The WholeCell sales order a person named in the console for an order waiting as
    #: ``needs_confirmation``: the next import links it (as an adopted order), never creates one.
    confirmed_wholecell_order_id: int | None = None
    #: When the order was first recorded as not imported (set and cleared on every save from
    #: ``import_state``): the key of the sparse ``by_not_imported`` index.
    not_imported_since: str | None = None
    wholecell_order_id: int | None = None
    #: The status bmsync last set in WholeCell, and the one WholeCell last showed.
    wholecell_status: str | None = None
    wholecell_status_seen: str | None = None
    status_note: str = ""
    stock_reserved: bool = False
    unknown_skus: list[str] = Field(default_factory=list)
    validations: list[ValidationRecord] = Field(default_factory=list)
    # the shipment and its export to Back Market
    shipment: ShipmentRecord | None = None
    export_state: ExportState = "none"
    export_reason: str = ""
    export_attempts: int = 0
    export_next_attempt_at: str | None = None
    export_owner: str | None = None
    export_until: str | None = None
    exported_key: str | None = None
    #: Set by order_import when a retry is due: the write wakes shipment_export through the stream.
    export_retry_requested_at: str | None = None
    history: list[HistoryEvent] = Field(default_factory=list)
    last_writer: str = ""
    updated_at: str | None = None
    #: Epoch seconds after which DynamoDB's TTL deletes the item: set once the order is finished.
    expires_at: int | None = None

    def add_history(self, at: datetime, event: str) -> None:
        self.history.append(HistoryEvent(at=utc_iso(at), event=event))
        del self.history[:-HISTORY_LIMIT]

    @property
    def order_number(self) -> int:
        return int(self.order_id)


#: Back Market outcomes after which nothing more happens to an order (with its export settled).
_FINISHED_STATUSES = {"cancelled", "refunded"}
#: A shipped order's export states that leave nothing to do: sent, or never needed (shipped on Back
#: Market directly). A rejected or failing export waits for a person and is kept.
_SETTLED_EXPORT_STATES = {"sent", "none"}


def is_finished(record: OrderRecord) -> bool:
    """Cancelled, refunded, or shipped with its export settled; never while an import is under way."""
    if record.import_state == "creating":
        return False
    if record.bm_status in _FINISHED_STATUSES:
        return True
    return record.bm_status == "shipped" and record.export_state in _SETTLED_EXPORT_STATES


class ConcurrentUpdate(Exception):
    """The item kept changing under us: another writer is busy with it; the caller retries later."""


def apply_wholecell_view(
    record: OrderRecord,
    shipment: ShipmentRecord | None,
    *,
    wholecell_order_id: int,
    wholecell_status: str,
    status_note: str,
    now: datetime,
) -> bool:
    """Edit ``record`` to what WholeCell shows for its sales order; True when anything changed."""
    if record.wholecell_order_id != wholecell_order_id:
        return False
    changed = False
    if record.wholecell_status_seen != wholecell_status or record.status_note != status_note:
        if status_note and status_note != record.status_note:
            record.add_history(now, status_note)
        record.wholecell_status_seen = wholecell_status
        record.status_note = status_note
        changed = True
    if shipment is None:
        return changed
    if record.shipment is None or record.shipment.key != shipment.key:
        record.shipment = shipment
        record.add_history(
            now,
            f"shipment {shipment.tracking_number} ({shipment.carrier or 'no carrier'}) added in WholeCell",
        )
        if record.exported_key != shipment.key:
            record.export_state = "pending"
            record.export_reason = "shipment added in WholeCell; sending it to Back Market"
            record.export_attempts = 0
            record.export_next_attempt_at = None
        return True
    if record.shipment != shipment:
        # Same parcel; units committed (or a tracking URL added) after the shipment was entered.
        record.shipment = shipment
        return True
    return changed


class OrdersRepository:
    """The orders of every connection.

    ``finished_retention`` (the flows pass their connection's ``finished_order_retention_days``) is
    how long a finished order's item is kept; without it (readers such as the doctor) no write sets
    or clears an expiry.
    """

    def __init__(
        self, dynamo_table: Any | None = None, *, finished_retention: timedelta | None = None
    ) -> None:
        self._table = dynamo_table if dynamo_table is not None else table(ORDERS)
        self._finished_retention = finished_retention

    def get(self, connection_id: str, order_id: str | int) -> OrderRecord | None:
        item = self._table.get_item(
            Key={"connection_id": connection_id, "order_id": str(order_id)}, ConsistentRead=True
        ).get("Item")
        return OrderRecord.model_validate(from_dynamo(item)) if item else None

    def get_many(self, connection_id: str, order_ids: Iterable[str | int]) -> dict[str, OrderRecord]:
        """The stored orders among ``order_ids``, by order id (one request per 100 orders)."""
        keys = [
            {"connection_id": connection_id, "order_id": order_id}
            for order_id in sorted({str(order_id) for order_id in order_ids})
        ]
        records = (OrderRecord.model_validate(from_dynamo(item)) for item in batch_get(self._table, keys))
        return {record.order_id: record for record in records}

    def list_by_export_state(self, connection_id: str, export_state: ExportState) -> list[OrderRecord]:
        """Orders in one export state (index reads are eventually consistent: re-read before acting)."""
        kwargs: dict[str, Any] = {
            "IndexName": "by_export_state",
            "KeyConditionExpression": "connection_id = :c AND export_state = :s",
            "ExpressionAttributeValues": {":c": connection_id, ":s": export_state},
        }
        return [OrderRecord.model_validate(item) for item in paginate(self._table.query, **kwargs)]

    def list_not_imported(self, connection_id: str) -> list[str]:
        """The ids of the orders recorded as not imported, longest waiting first (from the sparse
        ``by_not_imported`` index, eventually consistent: order_import re-reads each one)."""
        kwargs: dict[str, Any] = {
            "IndexName": "by_not_imported",
            "KeyConditionExpression": "connection_id = :c",
            "ExpressionAttributeValues": {":c": connection_id},
        }
        return [str(item["order_id"]) for item in paginate(self._table.query, **kwargs)]

    def list(self, connection_id: str) -> list[OrderRecord]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "connection_id = :c",
            "ExpressionAttributeValues": {":c": connection_id},
            "ConsistentRead": True,
        }
        return [OrderRecord.model_validate(item) for item in paginate(self._table.query, **kwargs)]

    def update(
        self,
        connection_id: str,
        order_id: str | int,
        change: Callable[[OrderRecord], bool],
        *,
        writer: str,
        now: datetime,
        create: bool = False,
    ) -> OrderRecord | None:
        """Apply ``change`` to the stored order and save it if ``change`` returns True.

        ``change`` may be called several times (after a concurrent write it sees the fresh item), so
        it must only edit the record it is given. Without ``create`` a missing item is left alone and
        None is returned. Returns the record as stored afterwards.
        """
        for _ in range(_SAVE_ATTEMPTS):
            current = self.get(connection_id, order_id)
            if current is None:
                if not create:
                    return None
                current = OrderRecord(connection_id=connection_id, order_id=str(order_id))
            edited = current.model_copy(deep=True)
            if not change(edited):
                return current
            if self._save(edited, expected_revision=current.revision, writer=writer, now=now):
                return edited
        raise ConcurrentUpdate(f"order {order_id} kept changing while {writer} was updating it")

    def _save(self, record: OrderRecord, *, expected_revision: int, writer: str, now: datetime) -> bool:
        record.revision = expected_revision + 1
        if record.import_state != "not_imported":
            record.not_imported_since = None
        elif record.not_imported_since is None:
            record.not_imported_since = utc_iso(now)
        record.last_writer = writer
        record.updated_at = utc_iso(now)
        if self._finished_retention is not None:
            # Counted from the write that finished the order; an order that opens again (a new
            # shipment to send) is kept until it finishes again.
            if not is_finished(record):
                record.expires_at = None
            elif record.expires_at is None:
                record.expires_at = int((now + self._finished_retention).timestamp())
        condition: dict[str, Any]
        if expected_revision == 0:
            condition = {"ConditionExpression": "attribute_not_exists(order_id)"}
        else:
            condition = {
                "ConditionExpression": "revision = :expected",
                "ExpressionAttributeValues": {":expected": expected_revision},
            }
        try:
            self._table.put_item(Item=to_dynamo(record.model_dump(mode="json")), **condition)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- the import claim: exactly one WholeCell order per Back Market order
    def claim_import(
        self, connection_id: str, order_id: str | int, *, owner: str, now: datetime, lease_until: datetime
    ) -> OrderRecord | None:
        """Take the right to create this order in WholeCell; the record now held by ``owner``.

        None when the order is already imported or another run holds a live claim. A claim that takes
        over an earlier one (a run that crashed or failed mid-way) has ``import_interrupted`` set: the
        WholeCell order may exist already and must be looked up before one is created. That is decided
        on the very version of the item the claim replaces, so no interrupted claim goes unnoticed.
        """

        def claim(record: OrderRecord) -> bool:
            if record.import_state in ("imported", "needs_confirmation"):
                return False  # a person checks WholeCell before a waiting order is created
            if record.import_state == "creating" and record.claim_until and record.claim_until > utc_iso(now):
                return False
            record.import_interrupted = record.import_state == "creating"
            record.import_state = "creating"
            record.claim_owner = owner
            record.claim_until = utc_iso(lease_until)
            return True

        stored = self.update(connection_id, order_id, claim, writer="order_import", now=now, create=True)
        if stored is None or stored.claim_owner != owner or stored.import_state != "creating":
            return None
        return stored

    # -- what wholecell_watch records (through bmsync.sync.shipment_export.capture_new_shipments)
    def record_wholecell_shipment(
        self,
        connection_id: str,
        order_id: str | int,
        shipment: ShipmentRecord | None,
        *,
        wholecell_order_id: int,
        wholecell_status: str,
        status_note: str,
        now: datetime,
    ) -> OrderRecord | None:
        """Record what WholeCell shows for the order's sales order, writing only when it changed.

        A new shipment (one Back Market has not been sent yet) makes the export ``pending``, which
        the stream hands to shipment_export. ``status_note`` explains a status someone set by hand in
        WholeCell (empty when WholeCell shows what bmsync set). Orders bmsync did not import, or whose
        WholeCell order is another one, are left alone (None).
        """

        def apply(record: OrderRecord) -> bool:
            return apply_wholecell_view(
                record,
                shipment,
                wholecell_order_id=wholecell_order_id,
                wholecell_status=wholecell_status,
                status_note=status_note,
                now=now,
            )

        return self.update(connection_id, order_id, apply, writer="wholecell_watch", now=now)
