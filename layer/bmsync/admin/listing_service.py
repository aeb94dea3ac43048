"""Listings: filters and search, one listing with its mapping, quantities and the doctor's explanation,
choosing its product variations, its own quantity-sync settings, and starting a listing import."""

from __future__ import annotations

import csv
import io
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bmsync.admin.paging import paged, parse_query
from bmsync.admin.services import AdminServices
from bmsync.admin.variations import VariationChoice
from bmsync.admin.web import BadRequest, Unprocessable, wholecell_answers
from bmsync.settings import ProductVariationMode, Settings, error_fields
from bmsync.store.listings_repo import ListingItem, SyncStatus
from bmsync.store.sync_state import RunRecord
from bmsync.sync import doctor
from bmsync.sync.listing_import import FLOW as LISTING_IMPORT_FLOW
from bmsync.sync.listing_import import LISTING_COUNTS_DOCUMENT
from bmsync.sync.quantity_sync import StockSnapshot, decide_quantity

WRITER = "admin"
ListingFilter = Literal["", "connected", "unmapped", "product_not_set", "sync_error"]
FILTER_LABELS: dict[str, str] = {
    "": "All listings",
    "connected": "Connected",
    "unmapped": "Unmapped (SKU on no variation)",
    "product_not_set": "Product not set",
    "sync_error": "Quantity sync errors",
}


#: A listing's quantity-sync status in words (the Status column, the CSV and the API's ``status_text``).
STATUS_WORDS: dict[str, str] = {
    "pending": "waiting to sync",
    "in_sync": "in sync",
    "unmapped": "SKU on no variation",
    "product_not_set": "product not set",
    "sync_off": "quantity sync off",
    "paused": "paused",
    "deferred": "waiting for Back Market's budget",
    "error": "sync error",
    "gone": "gone from Back Market",
}
SortColumn = Literal[
    "title", "sku", "backmarket", "calculated", "buffer", "to_show", "last_synced", "last_synced_at", "status"
]
#: The sortable columns: query value -> the column's header.
SORT_COLUMNS: dict[SortColumn, str] = {
    "title": "Listing",
    "sku": "SKU",
    "backmarket": "Back Market quantity",
    "calculated": "Calculated",
    "buffer": "Buffer",
    "to_show": "Quantity to show",
    "last_synced": "Last synced",
    "last_synced_at": "Synced at",
    "status": "Status",
}
PER_PAGE = 50
MAX_PER_PAGE = 500


class ListingQuery(BaseModel):
    """The Listings tab's (and its CSV's and API's) filter, search, sort and page."""

    model_config = ConfigDict(extra="ignore")

    filter: ListingFilter = ""
    q: str = Field(default="", max_length=200)
    sort: SortColumn = "title"
    order: Literal["asc", "desc"] = "asc"
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=PER_PAGE, ge=1, le=MAX_PER_PAGE)


class ListingRow(BaseModel):
    """One line of the Listings tab: what Back Market shows, what quantity_sync computes, what was sent."""

    listing_id: str
    legacy_id: int | None
    sku: str
    title: str
    connected: bool
    backmarket: int
    calculated: int | None  # Σ calculated of the mapped variations (None: nothing to compute from)
    buffer: int | None  # the listing's own buffer, or the connection's
    buffer_is_override: bool
    to_show: int | None  # calculated - buffer, never below 0
    last_synced: int | None
    last_synced_at: str | None
    status: SyncStatus
    status_text: str
    reason: str


class ListingPage(BaseModel):
    rows: list[ListingRow]
    page: int
    pages: int
    total: int


def parse_listing_query(query: dict[str, str]) -> ListingQuery:
    return parse_query(ListingQuery, query)


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


def list_listings(services: AdminServices, settings: Settings, wanted: str, text: str) -> list[ListingItem]:
    """The listings the filter ``wanted`` and the search ``text`` keep, by title."""
    if wanted not in FILTER_LABELS:
        raise BadRequest("filter", f"one of: {', '.join(name for name in FILTER_LABELS if name)}")
    items = services.listings(settings.connection_id).all()
    chosen = [item for item in items if _matches(item, settings, wanted, text)]
    return sorted(chosen, key=lambda item: (item.title.lower(), item.sku))


def _row(listing: ListingItem, settings: Settings, stock: StockSnapshot) -> ListingRow:
    decision = decide_quantity(listing, stock.levels(listing, settings), settings)
    computed = decision.target is not None
    status: SyncStatus = decision.status
    reason = decision.reason
    if status == "pending":
        # The rules allow a push: the listing's own record says whether it happened or failed.
        if listing.sync_status in ("error", "deferred"):
            status, reason = listing.sync_status, listing.last_error or listing.reason
        elif computed and not decision.needs_push:
            status = "in_sync"
    return ListingRow(
        listing_id=listing.listing_id,
        legacy_id=listing.legacy_id,
        sku=listing.sku,
        title=listing.title,
        connected=listing.connected,
        backmarket=listing.bm_quantity,
        calculated=decision.total if computed else None,
        buffer=decision.buffer if computed else None,
        buffer_is_override=listing.buffer_override is not None,
        to_show=decision.target,
        last_synced=listing.last_synced,
        last_synced_at=listing.last_synced_at,
        status=status,
        status_text=STATUS_WORDS[status],
        reason=reason,
    )


def _sorted(rows: list[ListingRow], sort: str, descending: bool) -> list[ListingRow]:
    """By ``sort`` (then title, SKU); rows without a value come last either way."""
    rows = sorted(rows, key=lambda row: (row.title.lower(), row.sku))
    if sort == "title":
        return sorted(rows, key=lambda row: row.title.lower(), reverse=descending)

    def value(row: ListingRow) -> Any:
        found = row.status_text if sort == "status" else getattr(row, sort)
        return found.lower() if isinstance(found, str) else found

    known = [row for row in rows if value(row) is not None]
    return sorted(known, key=value, reverse=descending) + [row for row in rows if value(row) is None]


def listing_rows(services: AdminServices, settings: Settings, query: ListingQuery) -> list[ListingRow]:
    """Every listing the filter and search keep, with its quantities, in the query's order."""
    kept = list_listings(services, settings, query.filter, query.q)
    stock = StockSnapshot(services.stock(settings.connection_id).all())
    rows = [_row(listing, settings, stock) for listing in kept]
    return _sorted(rows, query.sort, query.order == "desc")


def page_of_listings(services: AdminServices, settings: Settings, query: ListingQuery) -> ListingPage:
    rows = listing_rows(services, settings, query)
    shown, pages = paged(rows, query.page, query.per_page)
    return ListingPage(rows=shown, page=query.page, pages=pages, total=len(rows))


CSV_COLUMNS = [
    ("listing_id", "Back Market listing"),
    ("legacy_id", "Listing number"),
    ("sku", "SKU"),
    ("title", "Title"),
    ("backmarket", "Back Market quantity"),
    ("calculated", "Calculated"),
    ("buffer", "Buffer"),
    ("to_show", "Quantity to show"),
    ("last_synced", "Last synced"),
    ("last_synced_at", "Synced at (UTC)"),
    ("status_text", "Status"),
    ("reason", "Why"),
]


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet never runs as a formula (a leading = + - @, tab or CR gets a quote)."""
    if isinstance(value, int):  # a number (even -1) is no formula
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def listings_csv(rows: list[ListingRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for _, header in CSV_COLUMNS])
    for row in rows:
        values = row.model_dump()
        writer.writerow([csv_cell(values[name]) for name, _ in CSV_COLUMNS])
    return out.getvalue()


def find_listing(services: AdminServices, settings: Settings, listing_id: str) -> ListingItem:
    found = services.listings(settings.connection_id).get(listing_id)
    if found is None:
        raise BadRequest("listing_id", f"no listing {listing_id} in this connection", HTTPStatus.NOT_FOUND)
    return found


def listing_document(services: AdminServices, settings: Settings, listing: ListingItem) -> dict[str, Any]:
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


def available_variations(services: AdminServices, settings: Settings) -> list[VariationChoice]:
    """WholeCell's product variations, read live; a missing secret or silent WholeCell is a 5xx."""
    with wholecell_answers():
        return services.variations(settings, services.clock())


def chosen_variations(services: AdminServices, settings: Settings, listing: ListingItem) -> set[str]:
    return set(services.listings(settings.connection_id).chosen_variations(listing.listing_id))


def choose_variations(
    services: AdminServices, settings: Settings, listing: ListingItem, variation_ids: list[str]
) -> ListingItem:
    """Link the listing to these WholeCell variations (only with *Choose Specific*; ids are checked)."""
    if settings.product_variations is not ProductVariationMode.CHOOSE_SPECIFIC:
        raise BadRequest(
            "product_variations",
            "the connection maps listings via SKU: add the SKU to a variation in WholeCell instead, "
            "or switch Product Variations to Choose Specific Product Variations in the settings",
            HTTPStatus.CONFLICT,
        )
    wanted = sorted({variation_id.strip() for variation_id in variation_ids if variation_id.strip()})
    if wanted:
        known = {choice.id for choice in available_variations(services, settings)}
        unknown = [variation_id for variation_id in wanted if variation_id not in known]
        if unknown:
            message = f"not WholeCell product variations: {', '.join(unknown)}"
            raise Unprocessable([{"field": "variation_ids", "message": message}])
    return services.listings(settings.connection_id).set_chosen_variations(
        listing.listing_id, wanted, writer=WRITER
    )


def parse_variations(data: dict[str, Any]) -> list[str]:
    try:
        return VariationsBody.model_validate(data).variation_ids
    except ValidationError as error:
        raise Unprocessable(error_fields(error)) from None


def save_overrides(
    services: AdminServices, settings: Settings, listing: ListingItem, data: dict[str, Any]
) -> ListingItem:
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
    return find_listing(services, settings, listing.listing_id)


def start_import(services: AdminServices, settings: Settings) -> None:
    starter = services.listing_import()
    if starter is None:
        raise BadRequest(
            "listing_import", "starting an import is not configured here", HTTPStatus.SERVICE_UNAVAILABLE
        )
    starter(settings.connection_id)


def last_import(services: AdminServices, connection_id: str) -> RunRecord | None:
    return services.state(connection_id).last_run(LISTING_IMPORT_FLOW)


def scope_counts(services: AdminServices, connection_id: str) -> dict[str, Any] | None:
    """How many listings each import scope brings, as the last listing import counted them."""
    return services.state(connection_id).get_document(LISTING_COUNTS_DOCUMENT)
