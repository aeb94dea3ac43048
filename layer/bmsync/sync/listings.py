"""listing_import: Back Market listings -> the ``listings`` table (the seed's Listings tab).

Imports the *online* listings (publication state 2) or *all* of them, per the settings. A listing seen
for the first time is created; a known one is updated only where Back Market's view of it changed, and
never loses its mapping, overrides or sync state. A listing an import no longer returns is noted
(``missing_since``) and kept: with *online only*, a listing that sold out went offline and must still
be synced (and republished) when stock comes back.

Mapping: with *Match via SKU* a listing is connected when at least one WholeCell variation has its SKU
(it then maps to all of them), else it carries the reason. With *Choose specific product variations*
a new listing is "Product not set" until variations are chosen in the admin.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.events import ScheduledEvent
from bmsync.observability import logger
from bmsync.settings import ListingImportScope, ProductVariationMode, Settings
from bmsync.store.listings_repo import PRODUCT_NOT_SET, ListingItem, ListingsRepository
from bmsync.store.stock_repo import sku_key
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync.flow import run_flow
from bmsync.sync.ports import BackMarketListings, ListingLike, WholeCellInventory, WholeCellVariation
from bmsync.sync.quantities import ONLINE, unmapped_reason
from bmsync.sync.scheduled import connections_for, run_summary

FLOW = "listing_import"
PROGRESS_EVERY = 50
#: A scheduled import runs this often; after a failed or skipped one, at the next 5-minute schedule.
IMPORT_EVERY = timedelta(hours=1)
#: The source of an import somebody asked for (the admin's "Import listings"): it always runs.
ON_DEMAND_SOURCE = "bmsync.admin"


def import_listings(
    settings: Settings,
    *,
    backmarket: BackMarketListings,
    wholecell: WholeCellInventory,
    listings: ListingsRepository,
    state: SyncStateRepository,
    clock: Clock,
    run: RunRecord,
) -> None:
    """One listing_import run for one connection (the body of :func:`bmsync.sync.flow.run_flow`)."""
    now = utc_iso(clock.now())
    sku_mode = settings.product_variations is ProductVariationMode.MATCH_VIA_SKU
    variations_of_sku: dict[str, list[str]] = {}
    if sku_mode:
        variation: WholeCellVariation
        for variation in wholecell.iter_product_variations():
            key = sku_key(variation.sku)
            if key:
                variations_of_sku.setdefault(key, []).append(str(variation.id))
    known = {listing.listing_id: listing for listing in listings.all()}
    scope = settings.listing_import_scope
    counts = {"seen": 0, "new": 0, "changed": 0, "connected": 0, "unmapped": 0, "missing": 0}
    seen: set[str] = set()

    shown: ListingLike
    for shown in backmarket.iter_listings(
        publication_state=ONLINE if scope is ListingImportScope.ONLINE else None
    ):
        if shown.id in seen:
            continue  # Back Market's pages may repeat an item
        seen.add(shown.id)
        counts["seen"] += 1
        existing = known.get(shown.id)
        imported: dict[str, Any] = {
            "legacy_id": shown.listing_id,
            "sku": shown.sku,
            "title": shown.title or "",
            "grade": shown.grade,
            "bm_quantity": shown.quantity,
            "publication_state": shown.publication_state,
        }
        mapping = _mapping(shown.sku, existing, sku_mode, variations_of_sku)
        counts["connected" if mapping["connected"] else "unmapped"] += 1
        if existing is None:
            listing = ListingItem(
                connection_id=settings.connection_id,
                listing_id=shown.id,
                imported_at=now,
                seen_at=now,
                sync_status="pending" if mapping["connected"] else _unconnected_status(sku_mode),
                reason="waiting for the first quantity sync"
                if mapping["connected"]
                else mapping["mapping_reason"],
                last_writer=FLOW,
                **imported,
                **mapping,
            )
            if listings.create(listing):
                counts["new"] += 1
        else:
            changes = {
                name: value
                for name, value in {**imported, **mapping}.items()
                if getattr(existing, name) != value
            }
            if existing.missing_since is not None:
                changes["missing_since"] = None
            if existing.sync_status == "gone":
                changes.update(sync_status="pending", reason="listed again on Back Market")
            if changes:
                changes["seen_at"] = now
                listings.update_fields(shown.id, changes, writer=FLOW)
                counts["changed"] += 1
        if counts["seen"] % PROGRESS_EVERY == 0:
            run.progress = f"{counts['seen']} listings read"
            run.counts.update(counts)
            state.save_run(run)

    for listing_id, listing in known.items():
        if listing_id not in seen and listing.missing_since is None:
            listings.update_fields(listing_id, {"missing_since": now}, writer=FLOW)
            counts["missing"] += 1
    run.counts.update(counts)
    run.progress = (
        f"{counts['seen']} listings imported ({scope.value}): {counts['new']} new, "
        f"{counts['changed']} changed, {counts['connected']} connected, {counts['unmapped']} not connected, "
        f"{counts['missing']} no longer listed"
    )
    logger.info("listing import", extra={"connection_id": settings.connection_id, **counts})


def _mapping(
    sku: str, existing: ListingItem | None, sku_mode: bool, variations_of_sku: dict[str, list[str]]
) -> dict[str, Any]:
    if sku_mode:
        variation_ids = sorted(variations_of_sku.get(sku_key(sku) or "", []))
        return {
            "connected": bool(variation_ids),
            "variation_ids": variation_ids,
            "mapping_reason": "" if variation_ids else unmapped_reason(sku),
        }
    # Choose specific product variations: the choice is the admin's; an import never changes it.
    chosen = existing.chosen_variation_ids if existing is not None else []
    return {
        "connected": bool(chosen),
        "variation_ids": chosen,
        "mapping_reason": "" if chosen else PRODUCT_NOT_SET,
    }


def _unconnected_status(sku_mode: bool) -> Any:
    return "unmapped" if sku_mode else "product_not_set"


def run_listing_import(settings: Settings, clock: Clock) -> RunRecord:
    """Import one connection's listings now, with the real clients (the schedule and the admin button)."""
    from bmsync.backmarket import client_for as backmarket_client_for
    from bmsync.wholecell import client_for as wholecell_client_for

    state = SyncStateRepository(settings.connection_id, clock)

    def body(run: RunRecord) -> None:
        import_listings(
            settings,
            backmarket=backmarket_client_for(settings, clock),
            wholecell=wholecell_client_for(settings, clock),
            listings=ListingsRepository(settings.connection_id),
            state=state,
            clock=clock,
            run=run,
        )

    return run_flow(FLOW, state, clock, body, services=("backmarket", "wholecell"))


def import_due(state: SyncStateRepository, clock: Clock) -> bool:
    """Whether a scheduled import should run now: none yet, the last one failed, or an hour passed."""
    last = state.last_run(FLOW)
    if last is None or last.status != "succeeded":
        return True
    return clock.now() - parse_iso(last.started_at) >= IMPORT_EVERY - timedelta(minutes=1)


def handle_scheduled(event: dict[str, Any], clock: Clock) -> dict[str, Any]:
    scheduled = ScheduledEvent.model_validate(event)
    on_demand = scheduled.source == ON_DEMAND_SOURCE
    return run_summary(
        {
            settings.connection_id: run_listing_import(settings, clock)
            for settings in connections_for(scheduled)
            if on_demand or import_due(SyncStateRepository(settings.connection_id, clock), clock)
        }
    )
