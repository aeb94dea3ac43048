"""What a connection in shadow mode would have written: one item per thing written to, in ``sync_state``.

Each would-be write is kept under ``shadow#<kind>#<subject>`` (a listing's quantity, an order's
creation, a line's validation, an order's shipment, a WholeCell status): a newer
decision on the same subject replaces the older one (``times`` counts them), and every item expires
``RETENTION`` after its last decision, so the records stay bounded however long shadow mode runs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from bmsync.clock import Clock, utc_iso
from bmsync.store.dynamo import paginate, table, to_dynamo
from bmsync.store.tables import SYNC_STATE

ShadowKind = Literal["quantity", "order", "order_status", "validation", "shipment"]
KINDS: tuple[ShadowKind, ...] = ("quantity", "order", "order_status", "validation", "shipment")
PREFIX = "shadow#"
#: A shadow record older than this is moot (long after the decision, the state has moved on).
RETENTION = timedelta(days=14)


class ShadowItem(BaseModel):
    """One item of an order bmsync would create in WholeCell."""

    sku: str | None = None
    description: str = ""
    quantity: int
    price_cents: int
    product_variation_id: int | None = None


class ShadowWrite(BaseModel):
    """One write bmsync would have sent, and when it decided it (first and last time)."""

    kind: ShadowKind
    #: What it writes to: a listing id, a Back Market order id (a WholeCell one for a status),
    #: ``<order>#<sku>``. Never a buyer's name: an order's customer is an existing WholeCell customer's
    #: id or "a new customer".
    subject: str
    first_at: str = ""
    last_at: str = ""
    times: int = 1
    #: Back Market listing quantity (quantity), WholeCell order (order), or the status (order_status).
    quantity: int | None = None
    put_online: bool = False
    status: str | None = None
    customer: str | None = None
    items: list[ShadowItem] = Field(default_factory=list)
    notes: str | None = None
    #: validation: ``accepted`` or ``cancelled``; shipment: the tracking number and shipper.
    action: str | None = None
    tracking_number: str | None = None
    shipper: str | None = None
    #: shipment: the IMEI or serial number it would send with it.
    identifiers: dict[str, str] = Field(default_factory=dict)

    @property
    def total_cents(self) -> int:
        return sum(item.quantity * item.price_cents for item in self.items)


class ShadowRepository:
    def __init__(self, connection_id: str, clock: Clock, dynamo_table: Any | None = None) -> None:
        self.connection_id = connection_id
        self._clock = clock
        self._table = dynamo_table if dynamo_table is not None else table(SYNC_STATE)

    def _key(self, kind: str, subject: str) -> dict[str, str]:
        return {"connection_id": self.connection_id, "state_key": f"{PREFIX}{kind}#{subject}"}

    def record(self, write: ShadowWrite) -> ShadowWrite:
        """Keep ``write``, replacing the previous decision on the same subject (counted in ``times``)."""
        now = self._clock.now()
        key = self._key(write.kind, write.subject)
        found = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        previous = ShadowWrite.model_validate_json(found["document"]) if found else None
        stored = write.model_copy(
            update={
                "first_at": previous.first_at if previous else utc_iso(now),
                "last_at": utc_iso(now),
                "times": previous.times + 1 if previous else 1,
            }
        )
        self._table.put_item(
            Item={
                **key,
                "document": stored.model_dump_json(),
                "expires_at": int((now + RETENTION).timestamp()),
            }
        )
        return stored

    def list(self) -> list[ShadowWrite]:
        """Every write recorded (and not expired), by kind then subject."""
        now = int(self._clock.now().timestamp())
        items = paginate(
            self._table.query,
            KeyConditionExpression="connection_id = :c AND begins_with(state_key, :p)",
            ExpressionAttributeValues=to_dynamo({":c": self.connection_id, ":p": PREFIX}),
            ConsistentRead=True,
        )
        # TTL deletes within days of expiry: an expired item still there is not shown.
        writes = [
            ShadowWrite.model_validate_json(item["document"])
            for item in items
            if int(item.get("expires_at", now + 1)) > now
        ]
        return sorted(writes, key=lambda write: (KINDS.index(write.kind), write.subject))

    def clear(self) -> int:
        """Delete every record (going live: what shadow mode would have done is history)."""
        keys = paginate(
            self._table.query,
            KeyConditionExpression="connection_id = :c AND begins_with(state_key, :p)",
            ExpressionAttributeValues=to_dynamo({":c": self.connection_id, ":p": PREFIX}),
            ProjectionExpression="connection_id, state_key",
            ConsistentRead=True,
        )
        deleted = 0
        for key in keys:
            self._table.delete_item(Key=key)
            deleted += 1
        return deleted
