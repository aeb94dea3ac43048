"""Connections and settings: the home page, the settings form and the settings API (409 on a stale
version)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import LambdaFunctionUrlRouter

from bmsync.admin.connection_pages import mode_badge
from bmsync.admin.html import esc, notice, table
from bmsync.admin.sessions import ADMIN_STATE_PARTITION
from bmsync.admin.settings_form import form_to_changes, merge_changes, render_form
from bmsync.admin.settings_service import (
    load_settings,
    load_stored_settings,
    refresh_statuses,
    save_update,
    settings_document,
)
from bmsync.admin.web import (
    BadRequest,
    Unprocessable,
    admin_request,
    connection_id_from,
    csrf_input,
    json_response,
    page,
    redirect,
)
from bmsync.settings import Settings
from bmsync.store.settings_repo import StaleSettings
from bmsync.store.sync_state import Alert

router = LambdaFunctionUrlRouter()


def _stale(stale: StaleSettings) -> Response[str]:
    return json_response(HTTPStatus.CONFLICT, {"errors": [{"field": "version", "message": str(stale)}]})


# --- the JSON API


@router.get("/api/connections")
def api_connections() -> Response[str]:
    listed = admin_request().services.settings().list()
    connections = [{"connection_id": s.connection_id, "display_name": s.display_name} for s in listed]
    return json_response(200, {"connections": connections})


@router.get("/api/connections/<connection_id>/settings")
def api_get_settings(connection_id: str) -> Response[str]:
    return json_response(
        200, settings_document(load_stored_settings(admin_request().services, connection_id))
    )


@router.route("/api/connections/<connection_id>/settings", method=["PATCH", "PUT"])
def api_update_settings(connection_id: str) -> Response[str]:
    request = admin_request()
    current = load_settings(request.services, connection_id)
    try:
        saved = save_update(request.services, current, request.json_body(), strict=True)
    except StaleSettings as stale:
        return _stale(stale)
    return json_response(200, settings_document(saved))


@router.post("/api/connections/<connection_id>/settings/wholecell-statuses")
def api_refresh_statuses(connection_id: str) -> Response[str]:
    services = admin_request().services
    try:
        saved = refresh_statuses(services, load_settings(services, connection_id))
    except StaleSettings as stale:
        return _stale(stale)
    return json_response(200, settings_document(saved))


# --- the pages


@router.get("/")
def home() -> Response[str]:
    request = admin_request()
    listed = request.services.settings().list()
    return home_view(listed, request.services.state(ADMIN_STATE_PARTITION).alerts())


@router.get("/connections/new")
def new_connection() -> Response[str]:
    wanted = admin_request().query.get("connection_id", "")
    return redirect(f"/connections/{connection_id_from(wanted)}/settings")


@router.get("/connections/<connection_id>/settings")
def get_settings_page(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    message = "Settings saved." if request.query.get("saved") else ""
    return settings_view(settings.model_dump(mode="json"), 200, settings.connection_id, message)


@router.post("/connections/<connection_id>/settings")
def post_settings_page(connection_id: str) -> Response[str]:
    request = admin_request()
    current = load_settings(request.services, connection_id)
    form = request.caller.form
    changes = form_to_changes(form)
    try:
        changes["version"] = int(form.get("version", ""))
    except ValueError:
        changes["version"] = None
    try:
        save_update(request.services, current, changes)
    except Unprocessable as invalid:
        errors = {error["field"]: error["message"] for error in invalid.errors}
        posted = merge_changes(current, changes)
        return settings_view(
            posted, 422, current.connection_id, "Some settings are not valid: see below.", errors
        )
    except StaleSettings as stale:
        return settings_view(current.model_dump(mode="json"), 409, current.connection_id, str(stale))
    return redirect(f"/connections/{current.connection_id}/settings?saved=1")


@router.post("/connections/<connection_id>/settings/wholecell-statuses")
def refresh_statuses_page(connection_id: str) -> Response[str]:
    services = admin_request().services
    current = load_settings(services, connection_id)
    try:
        saved = refresh_statuses(services, current)
    except (BadRequest, StaleSettings) as failed:
        text = (
            "; ".join(e["message"] for e in failed.errors) if isinstance(failed, BadRequest) else str(failed)
        )
        return settings_view(current.model_dump(mode="json"), 502, current.connection_id, text)
    return settings_view(
        saved.model_dump(mode="json"),
        200,
        saved.connection_id,
        f"Read {len(saved.wholecell_order_statuses)} sales-order statuses from WholeCell.",
    )


# --- the views


def home_view(listed: list[Settings], admin_alerts: list[Alert]) -> Response[str]:
    rows = [
        [
            f'<a href="/connections/{esc(s.connection_id)}/status">{esc(s.display_name)}</a>',
            esc(s.connection_id),
            esc(s.backmarket.platform.value),
            mode_badge(s),
        ]
        for s in listed
    ]
    create = (
        '<h2>Add a connection</h2><form method="get" action="/connections/new">'
        '<label for="connection_id">Connection id</label>'
        '<input type="text" id="connection_id" name="connection_id" '
        'pattern="[a-z0-9][a-z0-9-]{0,39}" required>'
        '<button type="submit">Set it up</button></form>'
    )
    alert_rows = [
        [esc(alert.message), esc(alert.action), esc(f"{alert.raised_at} (×{alert.count})")]
        for alert in admin_alerts
    ]
    body = table(["Connection", "Id", "Platform", "Mode"], rows, empty="No connection yet.") + create
    if alert_rows:
        body = (
            "<h2>Admin console alerts</h2>"
            + table(["What happened", "What to do", "Since"], alert_rows)
            + body
        )
    return page("Connections", body)


def settings_view(
    settings_values: dict[str, Any],
    status: int,
    connection_id: str,
    message: str = "",
    errors: dict[str, str] | None = None,
) -> Response[str]:
    """The settings form (``settings_values``: as stored, or as posted back after a 422)."""
    form = render_form(
        settings_values,
        errors or {},
        action=f"/connections/{connection_id}/settings",
        csrf_html=csrf_input(),
    )
    kind = "error" if status >= 400 else "info"
    refresh = (
        f'<form method="post" action="/connections/{esc(connection_id)}/settings/wholecell-statuses">'
        f"{csrf_input()}"
        '<button type="submit">Read sales-order statuses from WholeCell</button></form>'
    )
    body = (notice(message, kind) if message else "") + refresh + form
    return page("Settings", body, connection_id=connection_id, status=status)
