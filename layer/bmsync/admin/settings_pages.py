"""Settings: read, and update with validation (422 naming each field) and optimistic locking (409)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from pydantic import ValidationError

from bmsync import secrets
from bmsync.admin.html import csrf_field, esc, layout, notice, table
from bmsync.admin.services import AdminServices
from bmsync.admin.sessions import ADMIN_STATE_PARTITION
from bmsync.admin.settings_form import form_to_changes, merge_changes, render_form
from bmsync.admin.web import (
    BadRequest,
    Unprocessable,
    caller,
    connection_id_from,
    html_response,
    json_body,
    json_response,
    redirect,
)
from bmsync.errors import IntegrationError
from bmsync.secrets import SecretMissing
from bmsync.settings import ADMIN_SECRET_NAME, Settings, error_fields
from bmsync.store.settings_repo import StaleSettings


def secrets_state(settings: Settings) -> dict[str, bool]:
    """Whether each token is set: the only thing the admin ever says about a secret."""
    names = settings.secret_names()
    return {
        "backmarket_token_set": secrets.secret_is_set(names.backmarket_token),
        "wholecell_credentials_set": secrets.secret_is_set(names.wholecell_credentials),
    }


def settings_document(settings: Settings) -> dict[str, Any]:
    return {"settings": settings.model_dump(mode="json"), "secrets": secrets_state(settings)}


def validated_update(current: Settings, changes: dict[str, Any]) -> Settings:
    """``changes`` applied over ``current``; raises :class:`Unprocessable` naming every bad field."""
    errors: list[dict[str, str]] = []
    version = changes.get("version")
    if version is None:
        errors.append({"field": "version", "message": "required: send the version you read"})
    if changes.get("connection_id", current.connection_id) != current.connection_id:
        errors.append({"field": "connection_id", "message": "cannot be changed"})
    merged = merge_changes(current, changes)
    try:
        updated = Settings.model_validate(merged)
    except ValidationError as error:
        errors.extend(error_fields(error))
        raise Unprocessable(errors) from None
    names = updated.secret_names()
    for field, name in (
        ("backmarket.token_secret_name", names.backmarket_token),
        ("wholecell.credentials_secret_name", names.wholecell_credentials),
    ):
        if name == ADMIN_SECRET_NAME:
            errors.append({"field": field, "message": "this secret name is reserved for the admin"})
    if errors:
        raise Unprocessable(errors)
    return updated


def register(app: LambdaFunctionUrlResolver, services: AdminServices) -> None:
    def load(connection_id: str) -> Settings:
        return services.settings().get_or_default(connection_id_from(connection_id))

    @app.get("/api/connections")
    def api_connections() -> Response[str]:
        listed = services.settings().list()
        return json_response(
            200,
            {
                "connections": [
                    {"connection_id": s.connection_id, "display_name": s.display_name} for s in listed
                ]
            },
        )

    @app.get("/")
    def home() -> Response[str]:
        listed = services.settings().list()
        rows = [
            [
                f'<a href="/connections/{esc(s.connection_id)}/status">{esc(s.display_name)}</a>',
                esc(s.connection_id),
                esc(s.backmarket.platform.value),
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
        admin_alerts = [
            [esc(alert.message), esc(alert.action), esc(f"{alert.raised_at} (×{alert.count})")]
            for alert in services.state(ADMIN_STATE_PARTITION).alerts()
        ]
        body = table(["Connection", "Id", "Platform"], rows, empty="No connection yet.") + create
        if admin_alerts:
            body = (
                "<h2>Admin console alerts</h2>"
                + table(["What happened", "What to do", "Since"], admin_alerts)
                + body
            )
        return html_response(200, layout("Connections", body, csrf=caller(app).csrf))

    @app.get("/connections/new")
    def new_connection() -> Response[str]:
        wanted = (app.current_event.query_string_parameters or {}).get("connection_id", "")
        return redirect(f"/connections/{connection_id_from(wanted)}/settings")

    @app.get("/api/connections/<connection_id>/settings")
    def api_get_settings(connection_id: str) -> Response[str]:
        return json_response(200, settings_document(load(connection_id)))

    @app.route("/api/connections/<connection_id>/settings", method=["PATCH", "PUT"])
    def api_update_settings(connection_id: str) -> Response[str]:
        current = load(connection_id)
        changes = json_body(app)
        updated = validated_update(current, changes)
        try:
            saved = services.settings().save(updated)
        except StaleSettings as stale:
            return json_response(
                HTTPStatus.CONFLICT, {"errors": [{"field": "version", "message": str(stale)}]}
            )
        return json_response(200, settings_document(saved))

    def refresh_statuses(current: Settings) -> Settings:
        """Store the account's sales-order statuses as WholeCell lists them now (the mapping names them)."""
        try:
            titles = services.order_statuses(current, services.clock())
        except SecretMissing as missing:
            raise BadRequest("wholecell", str(missing), HTTPStatus.SERVICE_UNAVAILABLE) from None
        except IntegrationError as error:
            raise BadRequest(
                "wholecell", f"WholeCell did not answer: {error.message}; try again", HTTPStatus.BAD_GATEWAY
            ) from None
        if not titles:
            raise BadRequest("wholecell", "WholeCell lists no sales-order status", HTTPStatus.BAD_GATEWAY)
        # A mapping to a status WholeCell no longer has would refuse every save: it is unmapped.
        kept = {state: title for state, title in current.order_status_map.items() if title in titles}
        changed = current.model_copy(update={"wholecell_order_statuses": titles, "order_status_map": kept})
        return services.settings().save(Settings.model_validate(changed.model_dump()))

    @app.post("/api/connections/<connection_id>/settings/wholecell-statuses")
    def api_refresh_statuses(connection_id: str) -> Response[str]:
        try:
            saved = refresh_statuses(load(connection_id))
        except StaleSettings as stale:
            return json_response(
                HTTPStatus.CONFLICT, {"errors": [{"field": "version", "message": str(stale)}]}
            )
        return json_response(200, settings_document(saved))

    @app.post("/connections/<connection_id>/settings/wholecell-statuses")
    def refresh_statuses_page(connection_id: str) -> Response[str]:
        current = load(connection_id)
        try:
            saved = refresh_statuses(current)
        except (BadRequest, StaleSettings) as failed:
            text = (
                "; ".join(e["message"] for e in failed.errors)
                if isinstance(failed, BadRequest)
                else str(failed)
            )
            return settings_page(current.model_dump(mode="json"), 502, current.connection_id, text)
        return settings_page(
            saved.model_dump(mode="json"),
            200,
            saved.connection_id,
            f"Read {len(saved.wholecell_order_statuses)} sales-order statuses from WholeCell.",
        )

    def settings_page(
        settings_values: dict[str, Any],
        status: int,
        connection_id: str,
        message: str = "",
        errors: dict[str, str] | None = None,
    ) -> Response[str]:
        who = caller(app)
        form = render_form(
            settings_values,
            errors or {},
            action=f"/connections/{connection_id}/settings",
            csrf_html=csrf_field(who.csrf),
        )
        kind = "error" if status >= 400 else "info"
        refresh = (
            f'<form method="post" action="/connections/{esc(connection_id)}/settings/wholecell-statuses">'
            f"{csrf_field(who.csrf)}"
            '<button type="submit">Read sales-order statuses from WholeCell</button></form>'
        )
        body = (notice(message, kind) if message else "") + refresh + form
        return html_response(status, layout("Settings", body, csrf=who.csrf, connection_id=connection_id))

    @app.get("/connections/<connection_id>/settings")
    def get_settings_page(connection_id: str) -> Response[str]:
        settings = load(connection_id)
        saved = (app.current_event.query_string_parameters or {}).get("saved")
        return settings_page(
            settings.model_dump(mode="json"), 200, settings.connection_id, "Settings saved." if saved else ""
        )

    @app.post("/connections/<connection_id>/settings")
    def post_settings_page(connection_id: str) -> Response[str]:
        current = load(connection_id)
        form = caller(app).form
        changes = form_to_changes(form)
        try:
            changes["version"] = int(form.get("version", ""))
        except ValueError:
            changes["version"] = None
        posted = merge_changes(current, changes)
        try:
            updated = validated_update(current, changes)
            services.settings().save(updated)
        except Unprocessable as invalid:
            errors = {error["field"]: error["message"] for error in invalid.errors}
            return settings_page(
                posted, 422, current.connection_id, "Some settings are not valid: see below.", errors
            )
        except StaleSettings as stale:
            return settings_page(current.model_dump(mode="json"), 409, current.connection_id, str(stale))
        return redirect(f"/connections/{current.connection_id}/settings?saved=1")
