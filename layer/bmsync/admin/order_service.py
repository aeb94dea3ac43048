"""Orders: the list with its problem filters, one order and the doctor's explanation of it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bmsync.admin.paging import paged, parse_query
from bmsync.admin.services import AdminServices
from bmsync.admin.web import BadRequest, Unprocessable, wholecell_answers
from bmsync.backmarket.states import LineState
from bmsync.settings import Settings, error_fields
from bmsync.store.orders_repo import ExportState, OrderRecord
from bmsync.sync import doctor, order_import, order_link
from bmsync.sync.ports import WholeCellSalesOrder
from bmsync.wholecell.errors import NotFound

OrderFilter = Literal["", "unknown_sku", "not_imported", "export_problem", "held", "currency_mismatch"]
FILTER_LABELS: dict[str, str] = {
    "": "All orders",
    "unknown_sku": "Unknown SKU",
    "not_imported": "Not imported",
    "export_problem": "Shipment not sent",
    "held": "Shipment held",
    "currency_mismatch": "Other currency",
}
EXPORT_PROBLEMS = ("held_not_validated", "held_unknown_carrier", "rejected", "failed", "failed_retrying")
HELD = ("held_not_validated", "held_unknown_carrier")
PER_PAGE = 50

#: Every shipment export state in words (the Orders list, an order, the API's ``export_text``).
EXPORT_WORDS: dict[ExportState, str] = {
    "none": "no shipment yet",
    "held_not_validated": "held: the order is not validated on Back Market yet",
    "held_unknown_carrier": "held: carrier unknown to Back Market",
    "pending": "waiting to be sent",
    "sending": "being sent",
    "sent": "sent to Back Market",
    "rejected": "rejected by Back Market",
    "failed_retrying": "not taken yet, retrying",
    "failed": "failed",
}
#: Back Market's orderline states in words.
LINE_STATE_WORDS: dict[LineState, str] = {
    LineState.NEW: "new",
    LineState.PAID: "paid (waiting for validation)",
    LineState.ACCEPTED: "accepted",
    LineState.SHIPPED: "shipped",
    LineState.CANCELLED: "cancelled",
    LineState.REFUNDED_BEFORE_SHIPPING: "refunded before shipping",
    LineState.REFUNDED_AFTER_SHIPPING: "refunded after shipping",
    LineState.NOT_PAID: "not paid",
    LineState.PENDING_PAYMENT: "payment pending",
    LineState.ON_HOLD: "on hold (partner check)",
}


def line_state_words(state: int) -> str:
    try:
        return LINE_STATE_WORDS[LineState(state)]
    except ValueError:
        return f"state {state} (unknown to bmsync)"


def export_words(record: OrderRecord) -> str:
    """The export state in words, with its reason when there is one."""
    words = EXPORT_WORDS[record.export_state]
    return f"{words}: {record.export_reason}" if record.export_reason else words


class OrderQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filter: OrderFilter = ""
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=PER_PAGE, ge=1, le=500)


class OrderPage(BaseModel):
    orders: list[OrderRecord]
    page: int
    pages: int
    total: int


def parse_order_query(query: dict[str, str]) -> OrderQuery:
    return parse_query(OrderQuery, query)


def _matches(record: OrderRecord, wanted: str) -> bool:
    return {
        "": True,
        "unknown_sku": bool(record.unknown_skus),
        "not_imported": record.import_state == "not_imported",
        "export_problem": record.export_state in EXPORT_PROBLEMS,
        "held": record.export_state in HELD,
        "currency_mismatch": record.currency_mismatch,
    }[wanted]


def list_orders(services: AdminServices, settings: Settings, query: OrderQuery) -> OrderPage:
    """The page of the connection's orders the filter keeps, newest first."""
    records = [
        record for record in services.orders().list(settings.connection_id) if _matches(record, query.filter)
    ]
    records.sort(key=lambda record: record.order_number, reverse=True)
    shown, pages = paged(records, query.page, query.per_page)
    return OrderPage(orders=shown, page=query.page, pages=pages, total=len(records))


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
        "export_text": export_words(record),
        "line_states": {str(line.line_id): line_state_words(line.state) for line in record.lines},
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
        "export_text": export_words(record),
        "updated_at": record.updated_at,
    }


def confirm_absent(services: AdminServices, settings: Settings, order_id: str) -> OrderRecord:
    """A person checked WholeCell: the waiting order is not there; the next run creates it."""
    record = _waiting(services, settings, order_id)
    order_import.confirm_absent(
        orders=services.orders(),
        state=services.state(settings.connection_id),
        connection_id=settings.connection_id,
        order_id=record.order_id,
        now=services.clock().now(),
    )
    return find_order(services, settings, order_id)


class InWholeCellBody(BaseModel):
    """The answer "it is in WholeCell: order #N" (a form posts the number as text, ``#`` allowed)."""

    model_config = ConfigDict(extra="ignore")

    wholecell_order_id: int

    @field_validator("wholecell_order_id", mode="before")
    @classmethod
    def _positive_whole_number(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().removeprefix("#").strip().isdigit():
            value = int(value.strip().removeprefix("#").strip())
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 2**53:
            return value
        raise ValueError("give the WholeCell sales order id: a positive whole number, e.g. 4711")


def parse_in_wholecell(data: dict[str, Any]) -> int:
    try:
        return InWholeCellBody.model_validate(data).wholecell_order_id
    except ValidationError as error:
        raise Unprocessable(error_fields(error)) from None


def _waiting(services: AdminServices, settings: Settings, order_id: str) -> OrderRecord:
    record = find_order(services, settings, order_id)
    if record.import_state != "needs_confirmation":
        raise BadRequest(
            "order_id",
            f"order {record.order_id} is not waiting for a confirmation ({record.import_state})",
            HTTPStatus.CONFLICT,
        )
    return record


@contextmanager
def _reading_wholecell(wholecell_order_id: int) -> Iterator[None]:
    """WholeCell's answers and the link's refusals as 4xx/5xx naming the field at fault."""
    with wholecell_answers():
        try:
            yield
        except order_link.LinkRefused as refused:
            raise BadRequest("wholecell_order_id", str(refused), HTTPStatus.CONFLICT) from None
        except NotFound:
            raise BadRequest(
                "wholecell_order_id",
                f"WholeCell has no sales order {wholecell_order_id}",
                HTTPStatus.NOT_FOUND,
            ) from None


def check_in_wholecell(
    services: AdminServices, settings: Settings, order_id: str, wholecell_order_id: int
) -> tuple[OrderRecord, WholeCellSalesOrder]:
    """What the console shows before the person confirms the link (nothing is changed)."""
    record = _waiting(services, settings, order_id)
    clock = services.clock()
    with _reading_wholecell(wholecell_order_id):
        sales_order = order_link.check_named_order(
            orders=services.orders(),
            read_sales_order=lambda wholecell_id: services.sales_order(settings, clock, wholecell_id),
            connection_id=settings.connection_id,
            order_id=record.order_id,
            wholecell_order_id=wholecell_order_id,
        )
    return record, sales_order


def confirm_in_wholecell(
    services: AdminServices, settings: Settings, order_id: str, wholecell_order_id: int
) -> OrderRecord:
    """A person found the waiting order in WholeCell: checked (read-only) and linked at the next run."""
    record = _waiting(services, settings, order_id)
    clock = services.clock()
    with _reading_wholecell(wholecell_order_id):
        order_link.confirm_in_wholecell(
            orders=services.orders(),
            state=services.state(settings.connection_id),
            read_sales_order=lambda wholecell_id: services.sales_order(settings, clock, wholecell_id),
            connection_id=settings.connection_id,
            order_id=record.order_id,
            wholecell_order_id=wholecell_order_id,
            now=clock.now(),
        )
    return find_order(services, settings, order_id)
