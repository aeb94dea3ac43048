"""Connection: save the Back Market token and WholeCell App ID/Secret (write-only), and test them."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from bmsync import secrets
from bmsync.admin.connection_check import ConnectionReport
from bmsync.admin.html import csrf_field, definition_list, esc, layout, notice
from bmsync.admin.services import AdminServices
from bmsync.admin.settings_pages import secrets_state
from bmsync.admin.web import (
    Unprocessable,
    caller,
    connection_id_from,
    html_response,
    json_body,
    json_response,
)
from bmsync.observability import logger
from bmsync.settings import Settings, error_fields

NO_WHITESPACE = r"^\S+$"


def _no_whitespace(value: SecretStr) -> SecretStr:
    if re.search(r"\s", value.get_secret_value()):
        raise ValueError("may not contain spaces or line breaks: paste the value alone")
    return value


class BackMarketTokenBody(BaseModel):
    token: SecretStr = Field(min_length=8, max_length=512)

    _token_clean = field_validator("token")(_no_whitespace)


class WholeCellCredentialsBody(BaseModel):
    app_id: str = Field(min_length=1, max_length=256, pattern=NO_WHITESPACE)
    app_secret: SecretStr = Field(min_length=8, max_length=512)

    _secret_clean = field_validator("app_secret")(_no_whitespace)


def _parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        # error_fields never echoes the input, so a rejected secret is not sent back.
        raise Unprocessable(error_fields(error)) from None


def connection_summary(settings: Settings) -> dict[str, Any]:
    state = secrets_state(settings)
    return {
        "backmarket": {
            "platform": settings.backmarket.platform.value,
            "base_url": settings.backmarket.base_url,
            "market": settings.backmarket.market,
            "token_set": state["backmarket_token_set"],
        },
        "wholecell": {
            "base_url": settings.wholecell.base_url,
            "credentials_set": state["wholecell_credentials_set"],
        },
    }


def register(app: LambdaFunctionUrlResolver, services: AdminServices) -> None:
    def load(connection_id: str) -> Settings:
        return services.settings().get_or_default(connection_id_from(connection_id))

    def save_backmarket_token(settings: Settings, data: dict[str, Any]) -> None:
        body: BackMarketTokenBody = _parse(BackMarketTokenBody, data)
        secrets.write_secret(settings.secret_names().backmarket_token, body.token.get_secret_value())
        logger.info("Back Market token saved", extra={"connection_id": settings.connection_id})

    def save_wholecell(settings: Settings, data: dict[str, Any]) -> None:
        body: WholeCellCredentialsBody = _parse(WholeCellCredentialsBody, data)
        secrets.write_wholecell_credentials(
            settings.secret_names().wholecell_credentials, body.app_id, body.app_secret.get_secret_value()
        )
        logger.info("WholeCell credentials saved", extra={"connection_id": settings.connection_id})

    def run_test(settings: Settings) -> ConnectionReport:
        secrets.reset_cache()  # a token saved a moment ago must be the one tested
        return services.test_connection(settings, services.clock())

    @app.get("/api/connections/<connection_id>/connection")
    def api_connection(connection_id: str) -> Response[str]:
        return json_response(200, connection_summary(load(connection_id)))

    @app.put("/api/connections/<connection_id>/connection/backmarket-token")
    def api_backmarket_token(connection_id: str) -> Response[str]:
        settings = load(connection_id)
        save_backmarket_token(settings, json_body(app))
        return json_response(200, connection_summary(settings))

    @app.put("/api/connections/<connection_id>/connection/wholecell")
    def api_wholecell(connection_id: str) -> Response[str]:
        settings = load(connection_id)
        save_wholecell(settings, json_body(app))
        return json_response(200, connection_summary(settings))

    @app.post("/api/connections/<connection_id>/connection/test")
    def api_test(connection_id: str) -> Response[str]:
        return json_response(200, run_test(load(connection_id)).model_dump())

    def page(
        settings: Settings,
        status: int = 200,
        message: str = "",
        kind: str = "info",
        report: ConnectionReport | None = None,
    ) -> Response[str]:
        who = caller(app)
        summary = connection_summary(settings)
        base = f"/connections/{esc(settings.connection_id)}/connection"
        token = csrf_field(who.csrf)

        def is_set(flag: bool) -> str:
            return '<span class="ok">set</span>' if flag else '<span class="bad">not set</span>'

        parts = [notice(message, kind) if message else ""]
        if report is not None:
            for side in (report.backmarket, report.wholecell):
                text = side.message + (f" — {side.action}" if side.action else "")
                parts.append(notice(text, "info" if side.ok else "error"))
        parts.append(
            definition_list(
                [
                    ("Back Market platform", esc(summary["backmarket"]["platform"])),
                    ("Back Market host", esc(summary["backmarket"]["base_url"])),
                    ("Back Market token", is_set(summary["backmarket"]["token_set"])),
                    ("WholeCell API", esc(summary["wholecell"]["base_url"])),
                    ("WholeCell App ID and Secret", is_set(summary["wholecell"]["credentials_set"])),
                ]
            )
        )
        parts.append(
            f'<form method="post" action="{base}/test">{token}'
            '<button type="submit">Test connection</button></form>'
            f'<h2>Back Market token</h2><p class="help">Available in the Technical Support area of the Back '
            "Market Seller Portal (Support &gt; Technical Support &gt; Recover my token). Saved in Secrets "
            "Manager; it is never shown again.</p>"
            f'<form method="post" action="{base}/backmarket-token">{token}'
            '<label for="token">Token</label>'
            '<input type="password" id="token" name="token" autocomplete="off">'
            '<button type="submit">Save token</button></form>'
            f'<h2>WholeCell App ID and Secret</h2><form method="post" action="{base}/wholecell">{token}'
            '<label for="app_id">App ID</label>'
            '<input type="text" id="app_id" name="app_id" autocomplete="off">'
            '<label for="app_secret">App Secret</label>'
            '<input type="password" id="app_secret" name="app_secret" autocomplete="off">'
            '<button type="submit">Save App ID and Secret</button></form>'
        )
        return html_response(
            status, layout("Connection", "".join(parts), csrf=who.csrf, connection_id=settings.connection_id)
        )

    @app.get("/connections/<connection_id>/connection")
    def connection_page(connection_id: str) -> Response[str]:
        return page(load(connection_id))

    def form_save(connection_id: str, save: Any, what: str) -> Response[str]:
        settings = load(connection_id)
        form = caller(app).form
        try:
            save(settings, {key: value for key, value in form.items() if key != "csrf_token"})
        except Unprocessable as invalid:
            text = "; ".join(f"{error['field']}: {error['message']}" for error in invalid.errors)
            return page(settings, 422, f"Not saved: {text}", "error")
        return page(settings, 200, f"{what} saved.")

    @app.post("/connections/<connection_id>/connection/backmarket-token")
    def backmarket_token_form(connection_id: str) -> Response[str]:
        return form_save(connection_id, save_backmarket_token, "Back Market token")

    @app.post("/connections/<connection_id>/connection/wholecell")
    def wholecell_form(connection_id: str) -> Response[str]:
        return form_save(connection_id, save_wholecell, "WholeCell App ID and Secret")

    @app.post("/connections/<connection_id>/connection/test")
    def test_form(connection_id: str) -> Response[str]:
        settings = load(connection_id)
        return page(settings, report=run_test(settings))
