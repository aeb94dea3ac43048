"""Orders: the list (with problem filters) and one order with its Back Market and WholeCell states,
items (Unknown SKU flagged), shipment and export state, and history."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import LambdaFunctionUrlRouter

from bmsync.admin.html import definition_list, esc, findings_html, pager, table
from bmsync.admin.order_service import (
    EXPORT_WORDS,
    FILTER_LABELS,
    PER_PAGE,
    OrderPage,
    OrderQuery,
    check_in_wholecell,
    confirm_absent,
    confirm_in_wholecell,
    export_words,
    find_order,
    line_state_words,
    list_orders,
    order_document,
    order_summary,
    parse_in_wholecell,
    parse_order_query,
)
from bmsync.admin.settings_service import load_settings
from bmsync.admin.web import admin_request, csrf_input, json_response, page, redirect
from bmsync.store.orders_repo import OrderRecord
from bmsync.sync.ports import WholeCellSalesOrder

router = LambdaFunctionUrlRouter()


@router.get("/api/connections/<connection_id>/orders")
def api_orders(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    found = list_orders(request.services, settings, parse_order_query(request.query))
    return json_response(
        200,
        {
            "orders": [order_summary(record) for record in found.orders],
            "page": found.page,
            "pages": found.pages,
            "total": found.total,
        },
    )


@router.get("/api/connections/<connection_id>/orders/<order_id>")
def api_order(connection_id: str, order_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    return json_response(200, order_document(services, settings, find_order(services, settings, order_id)))


@router.get("/connections/<connection_id>/orders")
def orders_page(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    query = parse_order_query(request.query)
    return orders_view(settings.connection_id, list_orders(request.services, settings, query), query)


@router.get("/connections/<connection_id>/orders/<order_id>")
def order_page(connection_id: str, order_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    record = find_order(services, settings, order_id)
    return order_view(settings.connection_id, record, order_document(services, settings, record))


@router.post("/api/connections/<connection_id>/orders/<order_id>/confirm-absent")
def api_confirm_absent(connection_id: str, order_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    return json_response(200, order_summary(confirm_absent(services, settings, order_id)))


@router.post("/connections/<connection_id>/orders/<order_id>/confirm-absent")
def confirm_absent_form(connection_id: str, order_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    record = confirm_absent(services, settings, order_id)
    return redirect(f"/connections/{quote(settings.connection_id)}/orders/{quote(record.order_id)}")


@router.post("/api/connections/<connection_id>/orders/<order_id>/in-wholecell")
def api_confirm_in_wholecell(connection_id: str, order_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    wholecell_order_id = parse_in_wholecell(request.json_body())
    record = confirm_in_wholecell(request.services, settings, order_id, wholecell_order_id)
    return json_response(200, order_summary(record))


@router.post("/connections/<connection_id>/orders/<order_id>/in-wholecell")
def confirm_in_wholecell_form(connection_id: str, order_id: str) -> Response[str]:
    """First post: the sales order read from WholeCell, to confirm; the confirmed post links it."""
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    form = request.caller.form
    wholecell_order_id = parse_in_wholecell(dict(form))
    if form.get("confirm") != "yes":
        record, sales_order = check_in_wholecell(request.services, settings, order_id, wholecell_order_id)
        return link_confirmation_view(settings.connection_id, record, sales_order)
    record = confirm_in_wholecell(request.services, settings, order_id, wholecell_order_id)
    return redirect(f"/connections/{quote(settings.connection_id)}/orders/{quote(record.order_id)}")


# --- the views


def orders_view(cid: str, found: OrderPage, query: OrderQuery) -> Response[str]:
    path = f"/connections/{quote(cid)}/orders"
    params: dict[str, str] = {"filter": query.filter}
    if query.per_page != PER_PAGE:
        params["per_page"] = str(query.per_page)
    options = "".join(
        f'<option value="{esc(name)}"{" selected" if name == query.filter else ""}>{esc(label)}</option>'
        for name, label in FILTER_LABELS.items()
    )
    rows = [
        [
            f'<a href="/connections/{esc(quote(cid))}/orders/{esc(record.order_id)}">'
            f"{esc(record.order_id)}</a>",
            esc(record.bm_status or record.bm_state),
            money_html(record),
            esc(record.wholecell_status_seen or record.wholecell_status or "-"),
            esc(record.import_state)
            + (
                f' <span class="bad">Unknown SKU {esc(", ".join(record.unknown_skus))}</span>'
                if record.unknown_skus
                else ""
            ),
            _export_cell(record),
        ]
        for record in found.orders
    ]
    body = (
        f'<form method="get" action="/connections/{esc(cid)}/orders">'
        f'<label for="filter">Show</label><select id="filter" name="filter">{options}</select>'
        '<button type="submit">Apply</button></form>'
        + pager(path, params, found.page, found.pages, found.total, "orders")
        + table(
            ["Order", "Back Market", "Total", "WholeCell", "Import", "Shipment export"],
            rows,
            empty="No order.",
            wide=True,
        )
        + (pager(path, params, found.page, found.pages, found.total, "orders") if found.pages > 1 else "")
    )
    return page("Orders", body, connection_id=cid)


def _export_cell(record: OrderRecord, *, with_reason: bool = False) -> str:
    words = esc(export_words(record) if with_reason else EXPORT_WORDS[record.export_state])
    return f'<span class="warn">{words}</span>' if record.export_state.startswith("held") else words


def amount(cents: int, currency: str | None) -> str:
    """An amount in the order's own currency (never converted)."""
    return f"{cents / 100:.2f} {currency or '(currency unknown)'}"


def money_html(record: OrderRecord) -> str:
    """The order's total in its currency, with a badge when that is not the account's currency."""
    total = esc(amount(sum(line.price_cents for line in record.lines), record.currency))
    if not record.currency_mismatch:
        return total
    market = f" ({record.market})" if record.market else ""
    return total + f' <span class="bad">Other currency{esc(market)}: not the account currency</span>'


def _import_note(cid: str, record: OrderRecord) -> str:
    """Adopted orders say so; an order that may already be in WholeCell offers the one-click confirm."""
    if record.adopted and record.confirmed_wholecell_order_id == record.wholecell_order_id:
        return " <em>(linked to the WholeCell order named in the console)</em>"
    if record.adopted:
        return " <em>(adopted from WholeCell's own integration)</em>"
    if record.import_state != "needs_confirmation":
        return ""
    base = f"/connections/{quote(cid)}/orders/{quote(record.order_id)}"
    return (
        f'<form method="post" action="{esc(base)}/confirm-absent">{csrf_input()}'
        "<p>Look for this order among WholeCell's Backmarket sales orders first.</p>"
        '<button type="submit">It is not in WholeCell: create it</button></form>'
        f'<form method="post" action="{esc(base)}/in-wholecell">{csrf_input()}'
        '<label for="wholecell_order_id">It is in WholeCell: order #</label>'
        '<input id="wholecell_order_id" name="wholecell_order_id" inputmode="numeric" '
        'pattern="#?[0-9]+" required>'
        '<button type="submit">Check it in WholeCell</button></form>'
    )


def link_confirmation_view(cid: str, record: OrderRecord, sales_order: WholeCellSalesOrder) -> Response[str]:
    """The named sales order as WholeCell shows it, and the one button that links it."""
    action = f"/connections/{quote(cid)}/orders/{quote(record.order_id)}/in-wholecell"
    body = (
        definition_list(
            [
                ("WholeCell sales order", esc(sales_order.id)),
                ("Channel", esc(sales_order.channel or "-")),
                ("Status", esc(sales_order.status or "-")),
                ("External id", esc(sales_order.external_id or "-")),
                ("Notes", esc(sales_order.notes or "-")),
                ("Created", esc(sales_order.created_at)),
            ]
        )
        + f'<form method="post" action="{esc(action)}">{csrf_input()}'
        f'<input type="hidden" name="wholecell_order_id" value="{esc(sales_order.id)}">'
        '<input type="hidden" name="confirm" value="yes">'
        f"<p>Link Back Market order {esc(record.order_id)} to this WholeCell sales order? bmsync will not "
        "create the order; it follows this sales order and sends its shipment to Back Market.</p>"
        f'<button type="submit">Yes: it is WholeCell order #{esc(sales_order.id)}</button></form>'
        f'<p><a href="/connections/{esc(quote(cid))}/orders/{esc(quote(record.order_id))}">Cancel</a></p>'
    )
    return page(
        f"Order {record.order_id}: link to WholeCell order #{sales_order.id}", body, connection_id=cid
    )


def order_view(cid: str, record: OrderRecord, document: dict[str, Any]) -> Response[str]:
    shipment = record.shipment
    lines = [
        [
            esc(line.sku)
            + (' <span class="bad">Unknown SKU</span>' if line.unknown_sku or not line.variation_ids else ""),
            esc(line.product),
            esc(line.quantity),
            esc(" + ".join(amount(unit, record.currency) for unit in line.unit_prices_cents) or "-"),
            esc(amount(line.price_cents, record.currency)),
            esc(line_state_words(line.state)),
            esc(", ".join(str(variation) for variation in line.variation_ids) or "-"),
        ]
        for line in record.lines
    ]
    history = [[esc(event.at), esc(event.event)] for event in reversed(record.history)]
    body = (
        definition_list(
            [
                ("Back Market", esc(f"state {record.bm_state} ({record.bm_status or '-'})")),
                ("Total", money_html(record)),
                ("WholeCell sales order", esc(record.wholecell_order_id or "-")),
                ("WholeCell status", esc(record.wholecell_status_seen or record.wholecell_status or "-")),
                ("Import", esc(record.import_status or record.import_state) + _import_note(cid, record)),
                (
                    "Shipment",
                    esc(f"{shipment.carrier or '-'} {shipment.tracking_number}" if shipment else "none yet"),
                ),
                ("Shipment export", _export_cell(record, with_reason=True)),
            ]
        )
        + "<h2>Items</h2>"
        + table(
            ["SKU", "Product", "Quantity", "Unit prices", "Line price", "Line state", "Variations"], lines
        )
        + "<h2>What the doctor says</h2>"
        + findings_html(document["explanation"])
        + "<h2>History</h2>"
        + table(["When", "What"], history)
    )
    return page(f"Order {record.order_id}", body, connection_id=cid)
