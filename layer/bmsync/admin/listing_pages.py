"""The Listings tab: filters and search, one listing with its mapping, quantities and explanation,
choosing its product variations ("⚠ Product not set!"), and starting a listing import."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, quote

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bmsync.admin.html import csrf_field, definition_list, esc, findings_html, layout, notice, table
from bmsync.admin.services import AdminServices
from bmsync.admin.variations import VariationChoice, matching
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
from bmsync.settings import ProductVariationMode, Settings, error_fields
from bmsync.store.listings_repo import ListingItem
from bmsync.store.sync_state import RunRecord
from bmsync.sync import doctor
from bmsync.sync.listing_import import FLOW as LISTING_IMPORT_FLOW

WRITER = "admin"
ListingFilter = Literal["", "connected", "unmapped", "product_not_set", "sync_error"]
FILTER_LABELS: dict[str, str] = {
    "": "All listings",
    "connected": "Connected",
    "unmapped": "Unmapped (SKU on no variation)",
    "product_not_set": "Product not set",
    "sync_error": "Quantity sync errors",
}


class VariationsBody(BaseModel):
    variation_ids: list[str] = Field(max_length=50)


class OverridesBody(BaseModel):
    """A listing's own quantity-sync settings: its safety buffer (None: the connection's), a pause."""

    model_config = ConfigDict(extra="forbid")

    buffer_override: int | None = Field(ge=0, le=10_000)
    sync_paused: bool


def _matches(listing: ListingItem, settings: Settings, wanted: str, query: str) -> bool:
    choose = settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC
    by_filter = {
        "": True,
        "connected": listing.connected,
        "unmapped": not listing.connected and not choose,
        "product_not_set": not listing.connected and choose,
        "sync_error": listing.sync_status == "error",
    }[wanted]
    needle = query.strip().lower()
    haystack = f"{listing.listing_id} {listing.legacy_id or ''} {listing.sku} {listing.title}".lower()
    return by_filter and (not needle or needle in haystack)


def _run_dump(run: RunRecord | None) -> dict[str, Any] | None:
    return run.model_dump() if run else None


def register(app: LambdaFunctionUrlResolver, services: AdminServices) -> None:
    def settings_of(connection_id: str) -> Settings:
        return services.settings().get_or_default(connection_id_from(connection_id))

    def query() -> dict[str, str]:
        return app.current_event.query_string_parameters or {}

    def listed(settings: Settings) -> tuple[list[ListingItem], str, str]:
        wanted = query().get("filter", "")
        if wanted not in FILTER_LABELS:
            raise BadRequest("filter", f"one of: {', '.join(name for name in FILTER_LABELS if name)}")
        text = query().get("q", "")
        items = services.listings(settings.connection_id).all()
        chosen = [item for item in items if _matches(item, settings, wanted, text)]
        return sorted(chosen, key=lambda item: (item.title.lower(), item.sku)), wanted, text

    def one(settings: Settings, listing_id: str) -> ListingItem:
        found = services.listings(settings.connection_id).get(listing_id)
        if found is None:
            raise BadRequest(
                "listing_id", f"no listing {listing_id} in this connection", HTTPStatus.NOT_FOUND
            )
        return found

    def listing_document(settings: Settings, listing: ListingItem) -> dict[str, Any]:
        cid = settings.connection_id
        state = services.state(cid)
        evaluation = doctor.quantity_decision(settings, listing, stock=services.stock(cid))
        diagnosis = doctor.diagnose_listing(
            settings,
            listing.listing_id,
            listings=services.listings(cid),
            stock=services.stock(cid),
            state=state,
            clock=services.clock(),
        )
        return {
            "listing": listing.model_dump(),
            "mapping": {
                "mode": settings.product_variations.value,
                "connected": listing.connected,
                "variation_ids": listing.variation_ids,
                "chosen_variations": services.listings(cid).chosen_variations(listing.listing_id),
            },
            "quantities": {
                "backmarket": listing.bm_quantity,
                "calculated": evaluation.total if evaluation.target is not None else None,
                "buffer": evaluation.buffer,
                "to_show": evaluation.target,
                "last_synced": listing.last_synced,
                "last_synced_at": listing.last_synced_at,
                "sync_status": evaluation.status,
            },
            "explanation": [finding.model_dump() for finding in diagnosis.findings],
        }

    def choose_variations(settings: Settings, listing: ListingItem, variation_ids: list[str]) -> ListingItem:
        if settings.product_variations is not ProductVariationMode.CHOOSE_SPECIFIC:
            raise BadRequest(
                "product_variations",
                "the connection maps listings via SKU: add the SKU to a variation in WholeCell instead, "
                "or switch Product Variations to Choose Specific Product Variations in the settings",
                HTTPStatus.CONFLICT,
            )
        wanted = sorted({variation_id.strip() for variation_id in variation_ids if variation_id.strip()})
        if wanted:
            known = {choice.id for choice in available_variations(settings)}
            unknown = [variation_id for variation_id in wanted if variation_id not in known]
            if unknown:
                raise Unprocessable(
                    [
                        {
                            "field": "variation_ids",
                            "message": f"not WholeCell product variations: {', '.join(unknown)}",
                        }
                    ]
                )
        return services.listings(settings.connection_id).set_chosen_variations(
            listing.listing_id, wanted, writer=WRITER
        )

    def available_variations(settings: Settings) -> list[VariationChoice]:
        try:
            return services.variations(settings, services.clock())
        except SecretMissing as missing:
            raise BadRequest("wholecell", f"{missing}", HTTPStatus.SERVICE_UNAVAILABLE) from None
        except IntegrationError as error:
            raise BadRequest(
                "wholecell", f"WholeCell did not answer: {error.message}; try again", HTTPStatus.BAD_GATEWAY
            ) from None

    def start_import(settings: Settings) -> None:
        starter = services.listing_import()
        if starter is None:
            raise BadRequest(
                "listing_import", "starting an import is not configured here", HTTPStatus.SERVICE_UNAVAILABLE
            )
        starter(settings.connection_id)

    # --- the JSON API
    @app.get("/api/connections/<connection_id>/listings")
    def api_listings(connection_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        items, _, _ = listed(settings)
        return json_response(200, {"listings": [item.model_dump() for item in items]})

    @app.get("/api/connections/<connection_id>/listings/<listing_id>")
    def api_listing(connection_id: str, listing_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        return json_response(200, listing_document(settings, one(settings, listing_id)))

    @app.put("/api/connections/<connection_id>/listings/<listing_id>/variations")
    def api_set_variations(connection_id: str, listing_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        listing = one(settings, listing_id)
        try:
            body = VariationsBody.model_validate(json_body(app))
        except ValidationError as error:
            raise Unprocessable(error_fields(error)) from None
        updated = choose_variations(settings, listing, body.variation_ids)
        return json_response(200, listing_document(settings, updated))

    def save_overrides(settings: Settings, listing: ListingItem, data: dict[str, Any]) -> ListingItem:
        try:
            body = OverridesBody.model_validate(data)
        except ValidationError as error:
            raise Unprocessable(error_fields(error)) from None
        services.listings(settings.connection_id).set_overrides(
            listing.listing_id,
            buffer_override=body.buffer_override,
            sync_paused=body.sync_paused,
            writer=WRITER,
        )
        return one(settings, listing.listing_id)

    @app.put("/api/connections/<connection_id>/listings/<listing_id>/overrides")
    def api_set_overrides(connection_id: str, listing_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        updated = save_overrides(settings, one(settings, listing_id), json_body(app))
        return json_response(200, listing_document(settings, updated))

    @app.get("/api/connections/<connection_id>/variations")
    def api_variations(connection_id: str) -> Response[str]:
        choices = matching(available_variations(settings_of(connection_id)), query().get("q", ""))
        return json_response(200, {"variations": [choice.model_dump() for choice in choices]})

    @app.post("/api/connections/<connection_id>/listing-import")
    def api_start_import(connection_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        start_import(settings)
        run = services.state(settings.connection_id).last_run(LISTING_IMPORT_FLOW)
        return json_response(HTTPStatus.ACCEPTED, {"started": True, "run": _run_dump(run)})

    @app.get("/api/connections/<connection_id>/listing-import")
    def api_import_progress(connection_id: str) -> Response[str]:
        cid = connection_id_from(connection_id)
        return json_response(200, {"run": _run_dump(services.state(cid).last_run(LISTING_IMPORT_FLOW))})

    # --- the pages
    def page(title: str, body: str, connection_id: str, status: int = 200) -> Response[str]:
        who = caller(app)
        return html_response(status, layout(title, body, csrf=who.csrf, connection_id=connection_id))

    def status_cell(settings: Settings, listing: ListingItem) -> str:
        base = f"/connections/{quote(settings.connection_id)}/listings/{quote(listing.listing_id)}"
        if not listing.connected and settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC:
            return f'<a class="warn" href="{esc(base)}/variations">\u26a0 Product not set!</a>'
        if not listing.connected:
            return f'<span class="warn">SKU {esc(listing.sku)} is on no product variation</span>'
        if listing.sync_status == "error":
            return (
                f'<span class="bad">Quantity sync error: {esc(listing.last_error or listing.reason)}</span>'
            )
        return '<span class="ok">Connected</span>'

    def import_progress(connection_id: str) -> str:
        run = services.state(connection_id).last_run(LISTING_IMPORT_FLOW)
        if run is None:
            return notice("Listings were never imported: use Import listings.", "warning")
        counts = ", ".join(f"{name} {value}" for name, value in sorted(run.counts.items()))
        when = run.finished_at or run.started_at
        text = f"Last listing import: {run.status} ({when}). {run.progress} {counts}"
        return notice(text.strip(), "error" if run.status == "failed" else "info")

    @app.get("/connections/<connection_id>/listings")
    def listings_page(connection_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        items, wanted, text = listed(settings)
        cid = settings.connection_id
        options = "".join(
            f'<option value="{esc(name)}"{" selected" if name == wanted else ""}>{esc(label)}</option>'
            for name, label in FILTER_LABELS.items()
        )
        rows = [
            [
                f'<a href="/connections/{esc(quote(cid))}/listings/{esc(quote(item.listing_id))}">'
                f"{esc(item.title or item.sku)}</a>",
                esc(item.sku),
                esc(item.bm_quantity),
                status_cell(settings, item),
            ]
            for item in items
        ]
        body = (
            import_progress(cid)
            + f'<form method="post" action="/connections/{esc(cid)}/listing-import">'
            + csrf_field(caller(app).csrf)
            + '<button type="submit">Import listings</button></form>'
            + f'<form method="get" action="/connections/{esc(cid)}/listings" class="filters">'
            + f'<label for="q">Search</label><input type="search" id="q" name="q" value="{esc(text)}">'
            + f'<label for="filter">Show</label><select id="filter" name="filter">{options}</select>'
            + '<button type="submit">Apply</button></form>'
            + table(["Listing", "SKU", "Back Market quantity", "Status"], rows, empty="No listing matches.")
        )
        return page("Listings", body, cid)

    @app.post("/connections/<connection_id>/listing-import")
    def import_form(connection_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        start_import(settings)
        return redirect(f"/connections/{settings.connection_id}/listings")

    @app.get("/connections/<connection_id>/listings/<listing_id>")
    def listing_page(connection_id: str, listing_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        return listing_view(settings, one(settings, listing_id))

    def listing_view(
        settings: Settings, listing: ListingItem, status: int = 200, message: str = ""
    ) -> Response[str]:
        document = listing_document(settings, listing)
        quantities = document["quantities"]
        mapping = document["mapping"]
        base = f"/connections/{quote(settings.connection_id)}/listings/{quote(listing.listing_id)}"
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
                    ("Quantity to show", shown(quantities["to_show"])),
                    ("Last synced", esc(last_synced)),
                ]
            )
            + "<h2>Why it syncs or not</h2>"
            + findings_html(document["explanation"])
            + overrides_form(settings, listing, base)
        )
        return page(listing.title or listing.sku, body, settings.connection_id, status)

    def overrides_form(settings: Settings, listing: ListingItem, base: str) -> str:
        paused = " checked" if listing.sync_paused else ""
        buffer = "" if listing.buffer_override is None else str(listing.buffer_override)
        return (
            f'<h2>Quantity sync for this listing</h2><form method="post" action="{esc(base)}/overrides">'
            + csrf_field(caller(app).csrf)
            + '<label for="buffer_override">Safety buffer for this listing</label>'
            + f'<p class="help">Empty: the connection\'s ({esc(settings.safety_buffer)}).</p>'
            + '<input type="number" id="buffer_override" name="buffer_override" min="0" '
            + f'value="{esc(buffer)}">'
            + f'<label class="check"><input type="checkbox" name="sync_paused"{paused}> '
            + "Pause quantity sync for this listing</label>"
            + '<button type="submit">Save</button></form>'
        )

    @app.post("/connections/<connection_id>/listings/<listing_id>/overrides")
    def overrides_page(connection_id: str, listing_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        listing = one(settings, listing_id)
        form = caller(app).form
        data: dict[str, Any] = {
            "sync_paused": form.get("sync_paused") == "on",
            "buffer_override": form.get("buffer_override", "").strip() or None,
        }
        try:
            save_overrides(settings, listing, data)
        except Unprocessable as invalid:
            text = "; ".join(f"{error['field']}: {error['message']}" for error in invalid.errors)
            return listing_view(settings, listing, HTTPStatus.UNPROCESSABLE_ENTITY, f"Not saved: {text}")
        return redirect(f"/connections/{quote(settings.connection_id)}/listings/{quote(listing.listing_id)}")

    @app.get("/connections/<connection_id>/listings/<listing_id>/variations")
    def variations_page(connection_id: str, listing_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        return variation_choice(settings, one(settings, listing_id), query().get("q", ""))

    def variation_choice(
        settings: Settings, listing: ListingItem, text: str, status: int = 200, message: str = ""
    ) -> Response[str]:
        chosen = set(services.listings(settings.connection_id).chosen_variations(listing.listing_id))
        choices = matching(available_variations(settings), text)
        base = f"/connections/{quote(settings.connection_id)}/listings/{quote(listing.listing_id)}/variations"
        rows = "".join(
            f'<label class="check"><input type="checkbox" name="variation_id" value="{esc(choice.id)}"'
            f"{' checked' if choice.id in chosen else ''}> {esc(choice.label)} "
            f'<span class="help">SKU {esc(choice.sku or "-")} · #{esc(choice.id)}</span></label>'
            for choice in choices
        )
        body = (
            (notice(message, "error") if message else "")
            + "<p>Choose the WholeCell product variation(s) for "
            f"<strong>{esc(listing.title or listing.sku)}</strong>"
            f" (SKU {esc(listing.sku)}). Its Back Market quantity follows their calculated quantity.</p>"
            f'<form method="get" action="{esc(base)}"><label for="q">Search variations</label>'
            f'<input type="search" id="q" name="q" value="{esc(text)}">'
            '<button type="submit">Search</button></form>'
            f'<form method="post" action="{esc(base)}">{csrf_field(caller(app).csrf)}'
            + (rows or '<p class="empty">No variation matches.</p>')
            + '<button type="submit">Save</button></form>'
        )
        return page("Choose product variations", body, settings.connection_id, status)

    @app.post("/connections/<connection_id>/listings/<listing_id>/variations")
    def save_variations_form(connection_id: str, listing_id: str) -> Response[str]:
        settings = settings_of(connection_id)
        listing = one(settings, listing_id)
        posted = [
            value for name, value in parse_qsl(app.current_event.decoded_body or "") if name == "variation_id"
        ]
        try:
            choose_variations(settings, listing, posted)
        except (BadRequest, Unprocessable) as refused:
            text = "; ".join(error["message"] for error in refused.errors)
            status = refused.status if isinstance(refused, BadRequest) else HTTPStatus.UNPROCESSABLE_ENTITY
            return variation_choice(settings, listing, "", status, f"Not saved: {text}")
        return redirect(f"/connections/{quote(settings.connection_id)}/listings/{quote(listing.listing_id)}")
