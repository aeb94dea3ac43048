"""Orders: the list with its problem filters, one order and the doctor's explanation of it."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from bmsync.admin.services import AdminServices
from bmsync.admin.web import BadRequest
from bmsync.settings import Settings
from bmsync.store.orders_repo import OrderRecord
from bmsync.sync import doctor, order_import

FILTER_LABELS: dict[str, str] = {
    "": "All orders",
    "unknown_sku": "Unknown SKU",
    "not_imported": "Not imported",
    "export_problem": "Shipment not sent",
}
EXPORT_PROBLEMS = ("held_not_validated", "held_unknown_carrier", "rejected", "failed", "failed_retrying")


def _matches(record: OrderRecord, wanted: str) -> bool:
    return {
        "": True,
        "unknown_sku": bool(record.unknown_skus),
        "not_imported": record.import_state == "not_imported",
        "export_problem": record.export_state in EXPORT_PROBLEMS,
    }[wanted]


def list_orders(services: AdminServices, settings: Settings, wanted: str) -> list[OrderRecord]:
    """The connection's orders the filter ``wanted`` keeps, newest first."""
    if wanted not in FILTER_LABELS:
        raise BadRequest("filter", f"one of: {', '.join(name for name in FILTER_LABELS if name)}")
    records = [
        record for record in services.orders().list(settings.connection_id) if _matches(record, wanted)
    ]
    return sorted(records, key=lambda record: record.order_number, reverse=True)


def find_order(services: AdminServices, settings: Settings, order_id: str) -> OrderRecord:
    record = services.orders().get(settings.connection_id, order_id) if order_id.isdigit() else None
    if record is None:
        raise BadRequest("order_id", f"no order {order_id} in this connection", HTTPStatus.NOT_FOUND)
    return record


def order_document(services: AdminServices, settings: Settings, record: OrderRecord) -> dict[str, Any]:
    diagnosis = doctor.diagnose_order(settings, record.order_id, orders=services.orders())
    return {
        "order": record.model_dump(
            exclude={"claim_owner", "claim_until", "export_owner", "export_until", "revision"}
        ),
        "explanation": [finding.model_dump() for finding in diagnosis.findings],
    }


def order_summary(record: OrderRecord) -> dict[str, Any]:
    return {
        "order_id": record.order_id,
        "bm_state": record.bm_state,
        "bm_status": record.bm_status,
        "currency": record.currency,
        "currency_mismatch": record.currency_mismatch,
        "import_state": record.import_state,
        "adopted": record.adopted,
        "wholecell_order_id": record.wholecell_order_id,
        "wholecell_status": record.wholecell_status_seen or record.wholecell_status,
        "unknown_skus": record.unknown_skus,
        "export_state": record.export_state,
        "updated_at": record.updated_at,
    }


def confirm_absent(services: AdminServices, settings: Settings, order_id: str) -> OrderRecord:
    """A person checked WholeCell: the waiting order is not there; the next run creates it."""
    record = find_order(services, settings, order_id)
    if record.import_state != "needs_confirmation":
        raise BadRequest(
            "order_id",
            f"order {record.order_id} is not waiting for a confirmation ({record.import_state})",
            HTTPStatus.CONFLICT,
        )
    order_import.confirm_absent(
        orders=services.orders(),
        state=services.state(settings.connection_id),
        connection_id=settings.connection_id,
        order_id=record.order_id,
        now=services.clock().now(),
    )
    return find_order(services, settings, order_id)
