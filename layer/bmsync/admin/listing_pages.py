"""The Listings tab: filters and search, one listing with its mapping, quantities and explanation,
choosing its product variations ("⚠ Product not set!"), and starting a listing import."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import LambdaFunctionUrlRouter

from bmsync.admin.html import (
    definition_list,
    esc,
    findings_html,
    link_to,
    notice,
    pager,
    sort_header,
    table,
    time_html,
)
from bmsync.admin.listing_service import (
    FILTER_LABELS,
    PER_PAGE,
    SORT_COLUMNS,
    ListingPage,
    ListingQuery,
    ListingRow,
    available_variations,
    choose_variations,
    chosen_variations,
    find_listing,
    last_import,
    listing_document,
    listing_rows,
    listings_csv,
    page_of_listings,
    parse_listing_query,
    parse_variations,
    save_overrides,
    scope_counts,
    start_import,
)
from bmsync.admin.settings_service import load_settings
from bmsync.admin.status_service import ago
from bmsync.admin.variations import VariationChoice, matching
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
from bmsync.settings import ProductVariationMode, Settings
from bmsync.store.listings_repo import ListingItem
from bmsync.store.sync_state import RunRecord

router = LambdaFunctionUrlRouter()


def _run_dump(run: RunRecord | None) -> dict[str, Any] | None:
    return run.model_dump() if run else None


def _listing_path(settings: Settings, listing: ListingItem) -> str:
    return f"/connections/{quote(settings.connection_id)}/listings/{quote(listing.listing_id)}"


# --- the JSON API


@router.get("/api/connections/<connection_id>/listings")
def api_listings(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    found = page_of_listings(request.services, settings, parse_listing_query(request.query))
    return json_response(
        200,
        {
            "listings": [row.model_dump() for row in found.rows],
            "page": found.page,
            "pages": found.pages,
            "total": found.total,
        },
    )


@router.get("/api/connections/<connection_id>/listings/<listing_id>")
def api_listing(connection_id: str, listing_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    listing = find_listing(services, settings, listing_id)
    return json_response(200, listing_document(services, settings, listing))


@router.put("/api/connections/<connection_id>/listings/<listing_id>/variations")
def api_set_variations(connection_id: str, listing_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    listing = find_listing(request.services, settings, listing_id)
    variation_ids = parse_variations(request.json_body())
    updated = choose_variations(request.services, settings, listing, variation_ids)
    return json_response(200, listing_document(request.services, settings, updated))


@router.put("/api/connections/<connection_id>/listings/<listing_id>/overrides")
def api_set_overrides(connection_id: str, listing_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    listing = find_listing(request.services, settings, listing_id)
    updated = save_overrides(request.services, settings, listing, request.json_body())
    return json_response(200, listing_document(request.services, settings, updated))


@router.get("/api/connections/<connection_id>/variations")
def api_variations(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    choices = matching(available_variations(request.services, settings), request.query.get("q", ""))
    return json_response(200, {"variations": [choice.model_dump() for choice in choices]})


@router.post("/api/connections/<connection_id>/listing-import")
def api_start_import(connection_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    start_import(services, settings)
    run = last_import(services, settings.connection_id)
    return json_response(HTTPStatus.ACCEPTED, {"started": True, "run": _run_dump(run)})


@router.get("/api/connections/<connection_id>/listing-import")
def api_import_progress(connection_id: str) -> Response[str]:
    run = last_import(admin_request().services, connection_id_from(connection_id))
    return json_response(200, {"run": _run_dump(run)})


# --- the pages


@router.get("/connections/<connection_id>/listings")
def listings_page(connection_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    query = parse_listing_query(request.query)
    found = page_of_listings(request.services, settings, query)
    run = last_import(request.services, settings.connection_id)
    counts = scope_counts(request.services, settings.connection_id)
    now = request.services.clock().now()
    return listings_view(settings, found, query, run, counts, lambda moment: ago(moment, now))


@router.get("/connections/<connection_id>/listings.csv")
def listings_csv_export(connection_id: str) -> Response[str]:
    """Every listing the filter and search keep, in the page's order (no paging)."""
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    rows = listing_rows(request.services, settings, parse_listing_query(request.query))
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=listings_csv(rows),
        headers={
            "Content-Disposition": f'attachment; filename="bmsync-listings-{settings.connection_id}.csv"'
        },
    )


@router.post("/connections/<connection_id>/listing-import")
def import_form(connection_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    start_import(services, settings)
    return redirect(f"/connections/{settings.connection_id}/listings")


@router.get("/connections/<connection_id>/listings/<listing_id>")
def listing_page(connection_id: str, listing_id: str) -> Response[str]:
    services = admin_request().services
    settings = load_settings(services, connection_id)
    listing = find_listing(services, settings, listing_id)
    return listing_view(settings, listing, listing_document(services, settings, listing))


@router.post("/connections/<connection_id>/listings/<listing_id>/overrides")
def overrides_page(connection_id: str, listing_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    listing = find_listing(request.services, settings, listing_id)
    form = request.caller.form
    data: dict[str, Any] = {
        "sync_paused": form.get("sync_paused") == "on",
        "buffer_override": form.get("buffer_override", "").strip() or None,
    }
    try:
        save_overrides(request.services, settings, listing, data)
    except Unprocessable as invalid:
        text = "; ".join(f"{error['field']}: {error['message']}" for error in invalid.errors)
        document = listing_document(request.services, settings, listing)
        return listing_view(
            settings, listing, document, HTTPStatus.UNPROCESSABLE_ENTITY, f"Not saved: {text}"
        )
    return redirect(_listing_path(settings, listing))


@router.get("/connections/<connection_id>/listings/<listing_id>/variations")
def variations_page(connection_id: str, listing_id: str) -> Response[str]:
    request = admin_request()
    settings = load_settings(request.services, connection_id)
    listing = find_listing(request.services, settings, listing_id)
    text = request.query.get("q", "")
    choices = matching(available_variations(request.services, settings), text)
    chosen = chosen_variations(request.services, settings, listing)
    return variations_view(settings, listing, choices, chosen, text)


@router.post("/connections/<connection_id>/listings/<listing_id>/variations")
def save_variations_form(connection_id: str, listing_id: str) -> Response[str]:
    request = admin_request()
    services = request.services
    settings = load_settings(services, connection_id)
    listing = find_listing(services, settings, listing_id)
    posted = [value for name, value in parse_qsl(request.event.decoded_body or "") if name == "variation_id"]
    try:
        choose_variations(services, settings, listing, posted)
    except (BadRequest, Unprocessable) as refused:
        text = "; ".join(error["message"] for error in refused.errors)
        status = refused.status if isinstance(refused, BadRequest) else HTTPStatus.UNPROCESSABLE_ENTITY
        choices = matching(available_variations(services, settings), "")
        chosen = chosen_variations(services, settings, listing)
        return variations_view(settings, listing, choices, chosen, "", status, f"Not saved: {text}")
    return redirect(_listing_path(settings, listing))


# --- the views


def _status_cell(settings: Settings, row: ListingRow) -> str:
    base = f"/connections/{quote(settings.connection_id)}/listings/{quote(row.listing_id)}"
    if row.status == "product_not_set":
        return f'<a class="warn" href="{esc(base)}/variations">\u26a0 Product not set!</a>'
    if row.status == "unmapped":
        return f'<span class="warn">SKU {esc(row.sku)} is on no product variation</span>'
    if row.status == "error":
        return f'<span class="bad">Quantity sync error: {esc(row.reason)}</span>'
    kind = "ok" if row.status == "in_sync" else "warn"
    title = f' title="{esc(row.reason)}"' if row.reason else ""
    return f'<span class="{kind}"{title}>{esc(row.status_text.capitalize())}</span>'


def _quantity(value: int | None) -> str:
    return "-" if value is None else esc(value)


def _import_progress(run: RunRecord | None) -> str:
    if run is None:
        return notice("Listings were never imported: use Import listings.", "warning")
    counts = ", ".join(f"{name} {value}" for name, value in sorted(run.counts.items()))
    when = run.finished_at or run.started_at
    text = f"Last listing import: {run.status} ({when}). {run.progress} {counts}"
    return notice(text.strip(), "error" if run.status == "failed" else "info")


def _scope_counts(settings: Settings, counts: dict[str, Any] | None) -> str:
    """What each import scope brings (counted by the last import), so a seller can choose."""
    if counts is None:
        return ""
    online_only = counts["online"] + counts["offline_sold_out"]
    return notice(
        f"On Back Market (at the last import): {counts['all']} listings in all, {counts['online']} online, "
        f"{counts['offline_sold_out']} offline because sold out. 'Online only' imports the online ones "
        f"and the sold-out ones (so restocking brings them back): {online_only}; "
        f"'All' imports {counts['all']}. This connection imports: {settings.listing_import_scope.value}.",
        "info",
    )


def listings_view(
    settings: Settings,
    found: ListingPage,
    query: ListingQuery,
    run: RunRecord | None,
    counts: dict[str, Any] | None,
    when: Callable[[str | None], str],
) -> Response[str]:
    cid = settings.connection_id
    path = f"/connections/{quote(cid)}/listings"
    params = {"filter": query.filter, "q": query.q, "sort": query.sort, "order": query.order}
    if query.per_page != PER_PAGE:
        params["per_page"] = str(query.per_page)
    options = "".join(
        f'<option value="{esc(name)}"{" selected" if name == query.filter else ""}>{esc(label)}</option>'
        for name, label in FILTER_LABELS.items()
    )
    rows = [
        [
            f'<a href="{esc(path)}/{esc(quote(row.listing_id))}">{esc(row.title or row.sku)}</a>',
            esc(row.sku),
            esc(row.backmarket),
            _quantity(row.calculated),
            _quantity(row.buffer) + (' <span class="help">(own)</span>' if row.buffer_is_override else ""),
            _quantity(row.to_show),
            _quantity(row.last_synced),
            time_html(row.last_synced_at, when(row.last_synced_at)) or "never",
            _status_cell(settings, row),
        ]
        for row in found.rows
    ]
    headers = [sort_header(label, column, path, params) for column, label in SORT_COLUMNS.items()]
    body = (
        _import_progress(run)
        + _scope_counts(settings, counts)
        + f'<form method="post" action="/connections/{esc(cid)}/listing-import">'
        + csrf_input()
        + '<button type="submit">Import listings</button></form>'
        + f'<form method="get" action="{esc(path)}" class="filters">'
        + f'<label for="q">Search</label><input type="search" id="q" name="q" value="{esc(query.q)}">'
        + f'<label for="filter">Show</label><select id="filter" name="filter">{options}</select>'
        + f'<input type="hidden" name="sort" value="{esc(query.sort)}">'
        + f'<input type="hidden" name="order" value="{esc(query.order)}">'
        + '<button type="submit">Apply</button></form>'
        + f'<p><a href="{esc(link_to(path + ".csv", params))}" download>Export these listings (CSV)</a></p>'
        + pager(path, params, found.page, found.pages, found.total, "listings")
        + table(headers, rows, empty="No listing matches.", head_html=True, wide=True)
        + (pager(path, params, found.page, found.pages, found.total, "listings") if found.pages > 1 else "")
    )
    return page("Listings", body, connection_id=cid)


def listing_view(
    settings: Settings, listing: ListingItem, document: dict[str, Any], status: int = 200, message: str = ""
) -> Response[str]:
    quantities = document["quantities"]
    mapping = document["mapping"]
    base = _listing_path(settings, listing)
    if settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC:
        chosen = ", ".join(mapping["chosen_variations"])
        mapping_html = (
            esc(chosen) + f' <a href="{esc(base)}/variations">Change</a>'
            if chosen
            else f'<a class="warn" href="{esc(base)}/variations">\u26a0 Product not set!</a>'
        )
    else:
        variations = ", ".join(mapping["variation_ids"])
        mapping_html = esc(
            f"Match via SKU: {variations}" if variations else f"SKU {listing.sku} is on no variation"
        )

    computed = quantities["calculated"] is not None

    def shown(value: Any) -> str:
        return esc("-" if value is None else value)

    last_synced = (
        f"{quantities['last_synced']} at {quantities['last_synced_at']}"
        if quantities["last_synced_at"]
        else "never"
    )
    body = (
        (notice(message, "error") if message else "")
        + definition_list(
            [
                ("Title", esc(listing.title)),
                ("SKU", esc(listing.sku)),
                ("Back Market listing", esc(f"{listing.listing_id} ({listing.legacy_id or '-'})")),
                ("Product variations", mapping_html),
                ("Back Market quantity", shown(quantities["backmarket"])),
                ("Calculated quantity", shown(quantities["calculated"])),
                ("Safety buffer", shown(quantities["buffer"] if computed else None)),
                ("Quantity to show", shown(quantities["to_show"])),
                ("Last synced", esc(last_synced)),
            ]
        )
        + "<h2>Why it syncs or not</h2>"
        + findings_html(document["explanation"])
        + _overrides_form(settings, listing, base)
    )
    return page(listing.title or listing.sku, body, connection_id=settings.connection_id, status=status)


def _overrides_form(settings: Settings, listing: ListingItem, base: str) -> str:
    paused = " checked" if listing.sync_paused else ""
    buffer = "" if listing.buffer_override is None else str(listing.buffer_override)
    return (
        f'<h2>Quantity sync for this listing</h2><form method="post" action="{esc(base)}/overrides">'
        + csrf_input()
        + '<label for="buffer_override">Safety buffer for this listing</label>'
        + f'<p class="help">Empty: the connection\'s ({esc(settings.safety_buffer)}).</p>'
        + '<input type="number" id="buffer_override" name="buffer_override" min="0" '
        + f'value="{esc(buffer)}">'
        + f'<label class="check"><input type="checkbox" name="sync_paused"{paused}> '
        + "Pause quantity sync for this listing</label>"
        + '<button type="submit">Save</button></form>'
    )


def variations_view(
    settings: Settings,
    listing: ListingItem,
    choices: list[VariationChoice],
    chosen: set[str],
    text: str,
    status: int = 200,
    message: str = "",
) -> Response[str]:
    base = f"{_listing_path(settings, listing)}/variations"
    rows = "".join(
        f'<label class="check"><input type="checkbox" name="variation_id" value="{esc(choice.id)}"'
        f"{' checked' if choice.id in chosen else ''}> {esc(choice.label)} "
        f'<span class="help">SKU {esc(choice.sku or "-")} · #{esc(choice.id)}</span></label>'
        for choice in choices
    )
    body = (
        (notice(message, "error") if message else "") + "<p>Choose the WholeCell product variation(s) for "
        f"<strong>{esc(listing.title or listing.sku)}</strong>"
        f" (SKU {esc(listing.sku)}). Its Back Market quantity follows their calculated quantity.</p>"
        f'<form method="get" action="{esc(base)}"><label for="q">Search variations</label>'
        f'<input type="search" id="q" name="q" value="{esc(text)}">'
        '<button type="submit">Search</button></form>'
        f'<form method="post" action="{esc(base)}">{csrf_input()}'
        + (rows or '<p class="empty">No variation matches.</p>')
        + '<button type="submit">Save</button></form>'
    )
    return page("Choose product variations", body, connection_id=settings.connection_id, status=status)
