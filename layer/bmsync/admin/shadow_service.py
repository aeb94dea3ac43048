"""Shadow mode in the console: what bmsync would do for a connection, and going live.

What it would do is read from the shadow records (``bmsync.store.shadow_repo``), joined with what
bmsync knows now: a listing's quantity on Back Market (as listing import and the hourly drift check
last read it) and an order's currency.
"""

from __future__ import annotations

from collections import Counter
from http import HTTPStatus
from typing import Any

from bmsync.admin.services import AdminServices
from bmsync.admin.web import BadRequest, require_typed_confirmation
from bmsync.observability import logger
from bmsync.settings import ConnectionMode, Settings
from bmsync.store.orders_repo import OrderRecord
from bmsync.store.shadow_repo import KINDS, ShadowRepository, ShadowWrite
from bmsync.sync.shipment_export import SHADOW_NOT_SENT

GOING_LIVE = "going live: sent now, after Back Market is read again"


def shadow_report(services: AdminServices, settings: Settings) -> dict[str, Any]:
    """What the connection would have written (everything recorded in shadow mode, not expired)."""
    connection_id = settings.connection_id
    writes = ShadowRepository(connection_id, services.clock()).list()
    by_kind: dict[str, list[ShadowWrite]] = {kind: [] for kind in KINDS}
    for write in writes:
        by_kind[write.kind].append(write)
    listings = services.listings(connection_id)
    quantities = []
    for write in by_kind["quantity"]:
        listing = listings.get(write.subject)
        shown = listing.bm_quantity if listing is not None else None
        # The listing's current decision: a later one may have found nothing to send (the record is
        # the last one that would have sent something).
        would_send = (
            listing.last_calculated
            if listing is not None and listing.last_calculated is not None
            else write.quantity
        )
        quantities.append(
            {
                "listing_id": write.subject,
                "sku": listing.sku if listing is not None else None,
                "would_send": would_send,
                "backmarket_shows": shown,
                "difference": None if shown is None or would_send is None else would_send - shown,
                "put_online": write.put_online,
                "times": write.times,
                "last_at": write.last_at,
            }
        )
    records = services.orders().get_many(connection_id, [write.subject for write in by_kind["order"]])
    orders = []
    for write in by_kind["order"]:
        record = records.get(write.subject)
        orders.append(
            {
                "order_id": write.subject,
                "customer": write.customer,
                "status": write.status,
                "currency": record.currency if record is not None else None,
                "currency_mismatch": bool(record and record.currency_mismatch),
                "items": [item.model_dump() for item in write.items],
                "total_cents": write.total_cents,
                "times": write.times,
                "last_at": write.last_at,
            }
        )
    return {
        "connection_id": connection_id,
        "mode": settings.mode.value,
        "counts": dict(Counter(write.kind for write in writes)),
        "quantity_differences": sum(1 for row in quantities if row["difference"]),
        "quantities": quantities,
        "orders": orders,
        "others": [
            write.model_dump(exclude_defaults=True) | {"kind": write.kind, "subject": write.subject}
            for kind in ("order_status", "validation", "shipment")
            for write in by_kind[kind]
        ],
    }


def go_live(services: AdminServices, settings: Settings, data: dict[str, Any], *, by: str) -> Settings:
    """Switch the connection from shadow to live; ``data["confirm"]`` repeats the connection id.

    Nothing recorded is replayed: each flow's next run decides from the state of that moment. Orders
    shadow mode did not create stay "not imported", and going live changes a setting that makes the
    next order import read each of them again (created, or adopted when another integration made
    it, exactly once under the import claim); listings were never marked as sent, so their next
    decision compares with what Back Market shows; shipments waiting are sent once Back Market is
    read again.
    """
    connection_id = settings.connection_id
    require_typed_confirmation(data, connection_id)
    if settings.mode is ConnectionMode.LIVE:
        raise BadRequest("mode", f"connection {connection_id!r} is live already", HTTPStatus.CONFLICT)
    recorded = Counter(write.kind for write in ShadowRepository(connection_id, services.clock()).list())
    saved = services.settings().save(settings.model_copy(update={"mode": ConnectionMode.LIVE}))
    shipments = _release_shipments(services, connection_id)
    cleared = ShadowRepository(connection_id, services.clock()).clear()
    # The audit line: who switched the connection to writing, and what shadow mode had seen.
    logger.info(
        "connection went live",
        extra={
            "connection_id": connection_id,
            "by": by,
            "shadow_records": dict(recorded),
            "shadow_records_cleared": cleared,
            "shipments_released": shipments,
        },
    )
    return saved


def _release_shipments(services: AdminServices, connection_id: str) -> int:
    """Shipments shadow mode held: written again, so the orders stream gives them to shipment_export."""
    orders = services.orders()
    now = services.clock().now()
    released = 0
    for held in orders.list_by_export_state(connection_id, "pending"):
        if not held.export_reason.startswith(SHADOW_NOT_SENT):
            continue

        def release(record: OrderRecord) -> bool:
            if record.export_state != "pending" or not record.export_reason.startswith(SHADOW_NOT_SENT):
                return False
            record.export_reason = GOING_LIVE
            record.add_history(now, GOING_LIVE)
            return True

        if orders.update(connection_id, held.order_id, release, writer="admin", now=now) is not None:
            released += 1
    return released
