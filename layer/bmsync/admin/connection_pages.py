"""Connection: the tokens' page and API (write-only; whether each is set), the connection test,
shadow mode (what bmsync would do, and going live), and deleting the connection with everything
bmsync holds for it."""

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
from bmsync.admin.html import definition_list, esc, notice, table
from bmsync.admin.sandbox_hosts import use_sandbox_hosts
from bmsync.admin.services import AdminServices
from bmsync.admin.settings_service import load_settings, load_stored_settings
from bmsync.admin.shadow_service import go_live, shadow_report
from bmsync.admin.web import (
    BadRequest,
    Unprocessable,
    admin_request,
    connection_id_from,
    csrf_input,
    json_response,
    page,
)
from bmsync.settings import ConnectionMode, Settings
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


@router.get("/api/connections/<connection_id>/shadow")
def api_shadow(connection_id: str) -> Response[str]:
    services = admin_request().services
    return json_response(200, shadow_report(services, load_stored_settings(services, connection_id)))


@router.post("/api/connections/<connection_id>/go-live")
def api_go_live(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_stored_settings(request.services, connection_id)
    try:
        saved = go_live(request.services, settings, request.json_body(), by=who(request.caller))
    except StaleSettings as stale:
        return json_response(HTTPStatus.CONFLICT, {"errors": [{"field": "version", "message": str(stale)}]})
    return json_response(200, {"connection_id": saved.connection_id, "mode": saved.mode.value})


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


@router.post("/connections/<connection_id>/go-live")
def go_live_form(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_stored_settings(request.services, connection_id)
    try:
        saved = go_live(
            request.services,
            settings,
            {"confirm": request.caller.form.get("confirm", "")},
            by=who(request.caller),
        )
    except BadRequest as refused:
        return connection_view(settings, refused.status, f"Not live: {refused.errors[0]['message']}", "error")
    except StaleSettings as stale:
        return connection_view(settings, 409, str(stale), "error")
    return connection_view(
        saved, 200, "This connection is live: bmsync now writes to Back Market and WholeCell."
    )


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
    if settings.mode is ConnectionMode.SHADOW and settings.version:
        parts.append(shadow_section(settings, token))
    parts.append(
        definition_list(
            [
                ("Mode", mode_badge(settings)),
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


def mode_badge(settings: Settings) -> str:
    if settings.mode is ConnectionMode.SHADOW:
        return (
            '<span class="badge shadow" title="bmsync writes nothing: it records what it would do">'
            "shadow mode</span>"
        )
    return '<span class="badge live">live</span>'


def shadow_section(settings: Settings, token: str) -> str:
    """What bmsync would do (shadow mode), and the confirmed switch to live."""
    report = shadow_report(admin_request().services, settings)
    counts = report["counts"]
    connection_id = esc(settings.connection_id)
    summary = (
        f"{counts.get('quantity', 0)} listing quantities ({report['quantity_differences']} differ from what "
        f"Back Market shows now), {counts.get('order', 0)} WholeCell orders, "
        f"{counts.get('validation', 0)} validations, {counts.get('shipment', 0)} shipments, "
        f"{counts.get('order_status', 0)} WholeCell status changes"
    )
    quantity_rows = [
        [
            esc(row["sku"] or "?"),
            esc(row["listing_id"]),
            esc(row["would_send"]) + (" (and put it online)" if row["put_online"] else ""),
            esc("unknown" if row["backmarket_shows"] is None else row["backmarket_shows"]),
            esc("" if row["difference"] is None else f"{row['difference']:+d}"),
            esc(row["last_at"]),
        ]
        for row in report["quantities"]
    ]
    order_rows = [
        [
            esc(row["order_id"]),
            esc(row["customer"] or ""),
            esc(row["status"] or ""),
            "<br>".join(
                esc(
                    f"{item['quantity']} x {item['sku'] or item['description']} "
                    f"at {item['price_cents'] / 100:.2f}"
                )
                for item in row["items"]
            ),
            esc(f"{row['total_cents'] / 100:.2f} {row['currency'] or ''}".strip())
            + (' <span class="bad">other currency</span>' if row["currency_mismatch"] else ""),
            esc(row["last_at"]),
        ]
        for row in report["orders"]
    ]
    return (
        '<section id="shadow"><h2>What bmsync would do</h2>'
        '<p class="help">This connection is in shadow mode: bmsync reads both accounts and decides as it '
        "would live, and records what it would write instead of writing it. Compare with what WholeCell's "
        "own integration does, then go live.</p>"
        f"<p>{esc(summary)}.</p>"
        "<h3>Listing quantities it would send</h3>"
        + table(
            ["SKU", "Listing", "Would send", "Back Market shows now", "Difference", "Decided at"],
            quantity_rows,
            empty="No quantity to send.",
            wide=True,
        )
        + "<h3>WholeCell orders it would create</h3>"
        + table(
            ["Back Market order", "Customer", "WholeCell status", "Items", "Total", "Decided at"],
            order_rows,
            empty="No order to create.",
            wide=True,
        )
        + "<h3>Go live</h3>"
        '<p class="help">bmsync then writes to Back Market and WholeCell. Nothing recorded here is replayed: '
        "each flow decides again from the state of that moment (the orders above that are still open are "
        "created in WholeCell, or adopted if another integration made them; quantities are sent where Back "
        "Market differs). Switch WholeCell's own Back Market integration off first.</p>"
        f'<form method="post" action="/connections/{connection_id}/go-live">{token}'
        f'<label for="go_live_confirm">Type the connection id ({connection_id}) to confirm</label>'
        '<input type="text" id="go_live_confirm" name="confirm" autocomplete="off" required>'
        '<button type="submit">Go live</button></form></section>'
    )
