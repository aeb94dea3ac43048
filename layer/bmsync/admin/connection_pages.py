"""Connection: the tokens' page and API (write-only; whether each is set), the connection test, and
deleting the connection with everything bmsync holds for it."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import LambdaFunctionUrlRouter

from bmsync.admin.connection_check import ConnectionReport
from bmsync.admin.connection_service import (
    connection_summary,
    delete_connection,
    run_contract_check,
    run_test,
    save_backmarket_token,
    save_wholecell,
    who,
)
from bmsync.admin.html import definition_list, esc, notice
from bmsync.admin.sandbox_hosts import use_sandbox_hosts
from bmsync.admin.services import AdminServices
from bmsync.admin.settings_service import load_settings
from bmsync.admin.web import (
    BadRequest,
    Unprocessable,
    admin_request,
    connection_id_from,
    csrf_input,
    json_response,
    page,
)
from bmsync.settings import Settings
from bmsync.store.settings_repo import StaleSettings

if TYPE_CHECKING:
    from bmsync.probe import ProbeReport

router = LambdaFunctionUrlRouter()


# --- the JSON API


@router.get("/api/connections/<connection_id>/connection")
def api_connection(connection_id: str) -> Response[str]:
    return json_response(200, connection_summary(load_settings(admin_request().services, connection_id)))


@router.put("/api/connections/<connection_id>/connection/backmarket-token")
def api_backmarket_token(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    save_backmarket_token(request.services, settings, request.json_body())
    return json_response(200, connection_summary(settings))


@router.put("/api/connections/<connection_id>/connection/wholecell")
def api_wholecell(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    save_wholecell(request.services, settings, request.json_body())
    return json_response(200, connection_summary(settings))


@router.post("/api/connections/<connection_id>/connection/use-sandbox")
def api_use_sandbox(connection_id: str) -> Response[str]:
    services = admin_request().services
    try:
        saved = use_sandbox_hosts(services, load_settings(services, connection_id))
    except StaleSettings as stale:
        return json_response(HTTPStatus.CONFLICT, {"errors": [{"field": "version", "message": str(stale)}]})
    return json_response(200, connection_summary(saved))


@router.post("/api/connections/<connection_id>/connection/test")
def api_test(connection_id: str) -> Response[str]:
    services = admin_request().services
    return json_response(200, run_test(services, load_settings(services, connection_id)).model_dump())


@router.delete("/api/connections/<connection_id>")
def api_delete_connection(connection_id: str) -> Response[str]:
    request = admin_request()
    deleted = delete_connection(
        request.services, connection_id_from(connection_id), request.json_body(), by=who(request.caller)
    )
    return json_response(200, {"deleted": deleted.model_dump()})


@router.post("/api/connections/<connection_id>/connection/contract")
def api_contract(connection_id: str) -> Response[str]:
    services = admin_request().services
    report = run_contract_check(services, load_settings(services, connection_id))
    return json_response(200, {"holds": report.holds, **report.model_dump()})


# --- the pages


@router.get("/connections/<connection_id>/connection")
def connection_page(connection_id: str) -> Response[str]:
    return connection_view(load_settings(admin_request().services, connection_id))


def _form_save(
    connection_id: str, save: Callable[[AdminServices, Settings, dict[str, Any]], None], what: str
) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    try:
        save(
            request.services,
            settings,
            {key: value for key, value in request.caller.form.items() if key != "csrf_token"},
        )
    except Unprocessable as invalid:
        text = "; ".join(f"{error['field']}: {error['message']}" for error in invalid.errors)
        return connection_view(settings, 422, f"Not saved: {text}", "error")
    return connection_view(settings, 200, f"{what} saved.")


@router.post("/connections/<connection_id>/connection/backmarket-token")
def backmarket_token_form(connection_id: str) -> Response[str]:
    return _form_save(connection_id, save_backmarket_token, "Back Market token")


@router.post("/connections/<connection_id>/connection/wholecell")
def wholecell_form(connection_id: str) -> Response[str]:
    return _form_save(connection_id, save_wholecell, "WholeCell App ID and Secret")


@router.post("/connections/<connection_id>/connection/use-sandbox")
def use_sandbox_form(connection_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    try:
        saved = use_sandbox_hosts(services, settings)
    except (BadRequest, Unprocessable) as refused:
        text = "; ".join(error["message"] for error in refused.errors)
        return connection_view(settings, 422, f"Not changed: {text}", "error")
    except StaleSettings as stale:
        return connection_view(settings, 409, str(stale), "error")
    return connection_view(saved, 200, "This connection now uses the local emulators.")


@router.post("/connections/<connection_id>/connection/test")
def test_form(connection_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    return connection_view(settings, report=run_test(services, settings))


@router.post("/connections/<connection_id>/delete")
def delete_form(connection_id: str) -> Response[str]:
    request = admin_request()
    connection_id = connection_id_from(connection_id)
    try:
        deleted = delete_connection(
            request.services,
            connection_id,
            {"confirm": request.caller.form.get("confirm", "")},
            by=who(request.caller),
        )
    except BadRequest as refused:
        if refused.status != HTTPStatus.BAD_REQUEST:
            raise
        settings = load_settings(request.services, connection_id)
        return connection_view(settings, 400, f"Not deleted: {refused.errors[0]['message']}", "error")
    secrets = ", ".join(deleted.secrets) or "none"
    items = sum(deleted.items.values())
    body = notice(
        f"Connection {deleted.connection_id} deleted: {items} items and its secrets ({secrets}).", "info"
    )
    return page("Connection deleted", body + '<p><a href="/">Connections</a></p>')


@router.post("/connections/<connection_id>/connection/contract")
def contract_form(connection_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    return connection_view(settings, contract=run_contract_check(services, settings))


# --- the view


def connection_view(
    settings: Settings,
    status: int = 200,
    message: str = "",
    kind: str = "info",
    report: ConnectionReport | None = None,
    contract: ProbeReport | None = None,
) -> Response[str]:
    summary = connection_summary(settings)
    base = f"/connections/{esc(settings.connection_id)}/connection"
    token = csrf_input()

    def is_set(flag: bool) -> str:
        return '<span class="ok">set</span>' if flag else '<span class="bad">not set</span>'

    def host(side: dict[str, Any]) -> str:
        return f"{esc(side['base_url'])} ({esc(side['host_kind'])})"

    parts = [notice(message, kind) if message else ""]
    if report is not None:
        for side in (report.backmarket, report.wholecell):
            text = side.message + (f" — {side.action}" if side.action else "")
            parts.append(notice(text, "info" if side.ok else "error"))
    if contract is not None:
        verdict = "The API contract holds." if contract.holds else "The API contract does NOT hold."
        parts.append(notice(verdict, "info" if contract.holds else "error"))
        parts.append("<pre>" + esc("\n".join(contract.lines())) + "</pre>")
    parts.append(
        definition_list(
            [
                ("Back Market platform", esc(summary["backmarket"]["platform"])),
                ("Back Market host", host(summary["backmarket"])),
                ("Back Market token", is_set(summary["backmarket"]["token_set"])),
                ("WholeCell API", host(summary["wholecell"])),
                ("WholeCell App ID and Secret", is_set(summary["wholecell"]["credentials_set"])),
            ]
        )
    )
    sandbox = summary["sandbox"]
    on_sandbox = summary["backmarket"]["host_kind"] == summary["wholecell"]["host_kind"] == "local sandbox"
    if sandbox is not None and not on_sandbox:
        parts.append(
            f'<form method="post" action="{base}/use-sandbox">{token}'
            f'<p class="help">This admin runs on the local system: its Back Market emulator is at '
            f"{esc(sandbox['backmarket'])} and its WholeCell emulator at {esc(sandbox['wholecell'])} "
            "(their tokens are in .bmsync/local.json).</p>"
            '<button type="submit">Use the local emulators</button></form>'
        )
    parts.append(
        f'<form method="post" action="{base}/test">{token}'
        '<button type="submit">Test connection</button></form>'
        f'<form method="post" action="{base}/contract">{token}'
        '<button type="submit">Check the API contract</button></form>'
        '<p class="help">Calls every endpoint bmsync uses on both sides, read-only, and says what differs '
        "from what bmsync expects (the same report as <code>bmsync probe</code>).</p>"
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
        "<h2>Delete this connection</h2>"
        '<p class="help">Deletes its settings, its tokens in Secrets Manager and everything bmsync holds '
        "for it: listings, stock mirror, orders (with buyers' names and addresses), runs and alerts. "
        "Back Market and WholeCell keep their own data. This cannot be undone.</p>"
        f'<form method="post" action="/connections/{esc(settings.connection_id)}/delete">{token}'
        f'<label for="confirm">Type the connection id ({esc(settings.connection_id)}) to confirm</label>'
        '<input type="text" id="confirm" name="confirm" autocomplete="off" required>'
        '<button type="submit">Delete this connection</button></form>'
    )
    return page("Connection", "".join(parts), connection_id=settings.connection_id, status=status)
