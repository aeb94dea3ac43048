"""Orders: the list (with problem filters) and one order with its Back Market and WholeCell states,
items (Unknown SKU flagged), shipment and export state, and history."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from bmsync.admin.html import definition_list, esc, findings_html, layout, table
from bmsync.admin.services import AdminServices
from bmsync.admin.web import BadRequest, caller, connection_id_from, html_response, json_response
from bmsync.settings import Settings
from bmsync.store.orders_repo import OrderRecord
from bmsync.sync import doctor

FILTER_LABELS: dict[str, str] = {
    "": "All orders",
    "unknown_sku": "Unknown SKU",
    "not_imported": "Not imported",
    "export_problem": "Shipment not sent",
}
EXPORT_PROBLEMS = ("held_not_validated", "rejected", "failed", "failed_retrying")


def _matches(record: OrderRecord, wanted: str) -> bool:
    return {
        "": True,
        "unknown_sku": bool(record.unknown_skus),
        "not_imported": record.import_state == "not_imported",
        "export_problem": record.export_state in EXPORT_PROBLEMS,
    }[wanted]


def order_document(settings: Settings, record: OrderRecord, services: AdminServices) -> dict[str, Any]:
    diagnosis = doctor.diagnose_order(settings, record.order_id, orders=services.orders())
    return {
        "order": record.model_dump(
            exclude={"claim_owner", "claim_until", "export_owner", "export_until", "revision"}
        ),
        "explanation": [finding.model_dump() for finding in diagnosis.findings],
    }


def register(app: LambdaFunctionUrlResolver, services: AdminServices) -> None:
    def settings_of(connection_id: str) -> Settings:
        return services.settings().get_or_default(connection_id_from(connection_id))

    def listed(settings: Settings) -> tuple[list[OrderRecord], str]:
        wanted = (app.current_event.query_string_parameters or {}).get("filter", "")
        if wanted not in FILTER_LABELS:
            raise BadRequest("filter", f"one of: {', '.join(name for name in FILTER_LABELS if name)}")
        records = [
            record for record in services.orders().list(settings.connection_id) if _matches(record, wanted)
        ]
        return sorted(records, key=lambda record: record.order_number, reverse=True), wanted

    def one(settings: Settings, order_id: str) -> OrderRecord:
        record = services.orders().get(settings.connection_id, order_id) if order_id.isdigit() else None
        if record is None:
            raise BadRequest("order_id", f"no order {order_id} in this connection", HTTPStatus.NOT_FOUND)
        return record

    @app.get("/api/connections/<connection_id>/orders")
    def api_orders(connection_id: str) -> Response[str]:
        records, _ = listed(settings_of(connection_id))
        return json_response(200, {"orders": [order_document_summary(record) for record in records]})

    @app.get("/api/connections/<connection_id>/orders/<order_id>")
    def api_order(connection_id: str, order_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        return json_response(200, order_document(settings, one(settings, order_id), services))

    @app.get("/connections/<connection_id>/orders")
    def orders_page(connection_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        records, wanted = listed(settings)
        cid = settings.connection_id
        options = "".join(
            f'<option value="{esc(name)}"{" selected" if name == wanted else ""}>{esc(label)}</option>'
            for name, label in FILTER_LABELS.items()
        )
        rows = [
            [
                f'<a href="/connections/{esc(quote(cid))}/orders/{esc(record.order_id)}">'
                f"{esc(record.order_id)}</a>",
                esc(record.bm_status or record.bm_state),
                esc(record.wholecell_status_seen or record.wholecell_status or "-"),
                esc(record.import_state)
                + (
                    f' <span class="bad">Unknown SKU {esc(", ".join(record.unknown_skus))}</span>'
                    if record.unknown_skus
                    else ""
                ),
                esc(record.export_state),
            ]
            for record in records
        ]
        body = (
            f'<form method="get" action="/connections/{esc(cid)}/orders">'
            f'<label for="filter">Show</label><select id="filter" name="filter">{options}</select>'
            '<button type="submit">Apply</button></form>'
            + table(
                ["Order", "Back Market", "WholeCell", "Import", "Shipment export"], rows, empty="No order."
            )
        )
        return html_response(200, layout("Orders", body, csrf=caller(app).csrf, connection_id=cid))

    @app.get("/connections/<connection_id>/orders/<order_id>")
    def order_page(connection_id: str, order_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        record = one(settings, order_id)
        document = order_document(settings, record, services)
        shipment = record.shipment
        lines = [
            [
                esc(line.sku)
                + (
                    ' <span class="bad">Unknown SKU</span>'
                    if line.unknown_sku or not line.variation_ids
                    else ""
                ),
                esc(line.product),
                esc(line.quantity),
                esc(line.state),
                esc(", ".join(str(variation) for variation in line.variation_ids) or "-"),
            ]
            for line in record.lines
        ]
        history = [[esc(event.at), esc(event.event)] for event in reversed(record.history)]
        body = (
            definition_list(
                [
                    ("Back Market", esc(f"state {record.bm_state} ({record.bm_status or '-'})")),
                    ("WholeCell sales order", esc(record.wholecell_order_id or "-")),
                    ("WholeCell status", esc(record.wholecell_status_seen or record.wholecell_status or "-")),
                    ("Import", esc(record.import_status or record.import_state)),
                    (
                        "Shipment",
                        esc(
                            f"{shipment.carrier or '-'} {shipment.tracking_number}"
                            if shipment
                            else "none yet"
                        ),
                    ),
                    ("Shipment export", esc(f"{record.export_state}: {record.export_reason}")),
                ]
            )
            + "<h2>Items</h2>"
            + table(["SKU", "Product", "Quantity", "Line state", "Variations"], lines)
            + "<h2>What the doctor says</h2>"
            + findings_html(document["explanation"])
            + "<h2>History</h2>"
            + table(["When", "What"], history)
        )
        return html_response(
            200,
            layout(
                f"Order {record.order_id}", body, csrf=caller(app).csrf, connection_id=settings.connection_id
            ),
        )


def order_document_summary(record: OrderRecord) -> dict[str, Any]:
    return {
        "order_id": record.order_id,
        "bm_state": record.bm_state,
        "bm_status": record.bm_status,
        "import_state": record.import_state,
        "wholecell_order_id": record.wholecell_order_id,
        "wholecell_status": record.wholecell_status_seen or record.wholecell_status,
        "unknown_skus": record.unknown_skus,
        "export_state": record.export_state,
        "updated_at": record.updated_at,
    }
