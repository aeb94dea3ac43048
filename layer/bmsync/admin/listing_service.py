"""Listings: filters and search, one listing with its mapping, quantities and the doctor's explanation,
choosing its product variations, its own quantity-sync settings, and starting a listing import."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bmsync.admin.services import AdminServices
from bmsync.admin.variations import VariationChoice
from bmsync.admin.web import BadRequest, Unprocessable
from bmsync.errors import IntegrationError
from bmsync.secrets import SecretMissing
from bmsync.settings import ProductVariationMode, Settings, error_fields
from bmsync.store.listings_repo import ListingItem
from bmsync.store.sync_state import RunRecord
from bmsync.sync import doctor
from bmsync.sync.listing_import import FLOW as LISTING_IMPORT_FLOW
from bmsync.sync.listing_import import LISTING_COUNTS_DOCUMENT

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


def list_listings(services: AdminServices, settings: Settings, wanted: str, text: str) -> list[ListingItem]:
    """The listings the filter ``wanted`` and the search ``text`` keep, by title."""
    if wanted not in FILTER_LABELS:
        raise BadRequest("filter", f"one of: {', '.join(name for name in FILTER_LABELS if name)}")
    items = services.listings(settings.connection_id).all()
    chosen = [item for item in items if _matches(item, settings, wanted, text)]
    return sorted(chosen, key=lambda item: (item.title.lower(), item.sku))


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
    try:
        return services.variations(settings, services.clock())
    except SecretMissing as missing:
        raise BadRequest("wholecell", f"{missing}", HTTPStatus.SERVICE_UNAVAILABLE) from None
    except IntegrationError as error:
        raise BadRequest(
            "wholecell", f"WholeCell did not answer: {error.message}; try again", HTTPStatus.BAD_GATEWAY
        ) from None


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
