"""The doctor: why a listing, an order or the whole connection does not sync, and what fixes it."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from bmsync.admin.html import esc, findings_html, layout
from bmsync.admin.services import AdminServices
from bmsync.admin.settings_pages import secrets_state
from bmsync.admin.web import BadRequest, caller, connection_id_from, html_response, json_response
from bmsync.sync import doctor


def register(app: LambdaFunctionUrlResolver, services: AdminServices) -> None:
    def diagnose(connection_id: str) -> doctor.Diagnosis:
        settings = services.settings().get_or_default(connection_id_from(connection_id))
        cid = settings.connection_id
        asked = app.current_event.query_string_parameters or {}
        listing = asked.get("listing", "").strip()
        order = asked.get("order", "").strip()
        if listing and order:
            raise BadRequest("listing", "ask about a listing or an order, not both")
        if listing:
            return doctor.diagnose_listing(
                settings,
                listing,
                listings=services.listings(cid),
                stock=services.stock(cid),
                state=services.state(cid),
                clock=services.clock(),
            )
        if order:
            if not order.isdigit():
                raise BadRequest("order", "a Back Market order number (digits)")
            return doctor.diagnose_order(settings, order, orders=services.orders())
        return doctor.diagnose_connection(
            settings,
            secrets_set=secrets_state(settings),
            listings=services.listings(cid),
            orders=services.orders(),
            state=services.state(cid),
        )

    @app.get("/api/connections/<connection_id>/doctor")
    def api_doctor(connection_id: str) -> Response[str]:
        diagnosis = diagnose(connection_id)
        return json_response(200, {**diagnosis.model_dump(), "healthy": diagnosis.healthy})

    @app.get("/connections/<connection_id>/doctor")
    def doctor_page(connection_id: str) -> Response[str]:
        diagnosis = diagnose(connection_id)
        asked = app.current_event.query_string_parameters or {}
        cid = connection_id_from(connection_id)
        body = (
            f'<form method="get" action="/connections/{esc(cid)}/doctor">'
            '<label for="listing">A listing (SKU or Back Market listing id)</label>'
            f'<input type="search" id="listing" name="listing" value="{esc(asked.get("listing", ""))}">'
            '<button type="submit">Ask about this listing</button></form>'
            f'<form method="get" action="/connections/{esc(cid)}/doctor">'
            '<label for="order">An order (Back Market order number)</label>'
            f'<input type="search" id="order" name="order" value="{esc(asked.get("order", ""))}">'
            '<button type="submit">Ask about this order</button></form>'
            f"<h2>{esc(diagnosis.subject)}</h2>"
            + ('<p class="ok">Everything checks out.</p>' if diagnosis.healthy else "")
            + findings_html([finding.model_dump() for finding in diagnosis.findings])
        )
        return html_response(200, layout("Doctor", body, csrf=caller(app).csrf, connection_id=cid))
