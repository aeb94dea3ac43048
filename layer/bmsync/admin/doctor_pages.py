"""The doctor: why a listing, an order or the whole connection does not sync, and what fixes it."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import LambdaFunctionUrlRouter

from bmsync.admin.doctor_service import diagnose
from bmsync.admin.html import esc, findings_html
from bmsync.admin.web import AdminRequest, admin_request, connection_id_from, json_response, page
from bmsync.sync import doctor

router = LambdaFunctionUrlRouter()


def _asked(request: AdminRequest, connection_id: str) -> doctor.Diagnosis:
    return diagnose(
        request.services,
        connection_id,
        listing=request.query.get("listing", "").strip(),
        order=request.query.get("order", "").strip(),
    )


@router.get("/api/connections/<connection_id>/doctor")
def api_doctor(connection_id: str) -> Response[str]:
    diagnosis = _asked(admin_request(), connection_id)
    return json_response(200, {**diagnosis.model_dump(), "healthy": diagnosis.healthy})


@router.get("/connections/<connection_id>/doctor")
def doctor_page(connection_id: str) -> Response[str]:
    request = admin_request()
    diagnosis = _asked(request, connection_id)
    return doctor_view(connection_id_from(connection_id), request.query, diagnosis)


def doctor_view(cid: str, asked: dict[str, str], diagnosis: doctor.Diagnosis) -> Response[str]:
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
    return page("Doctor", body, connection_id=cid)
