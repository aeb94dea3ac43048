"""listing_import: Back Market listings -> the ``listings`` table (the seed's Listings tab).

Imports the *online* listings or *all* of them, per the settings. *Online only* also imports the
offline listings at quantity 0 or less: Back Market takes a listing offline when it sells out (827 of a
real UK seller's 828 listings), and such a listing must come back when stock arrives. A listing seen
for the first time is created; a known one is updated only where Back Market's view of it changed, and
never loses its mapping, overrides or sync state. A listing an import no longer returns is noted
(``missing_since``) and kept. Each run records how many listings each scope would bring
(``LISTING_COUNTS_DOCUMENT``), for the console.

Mapping: with *Match via SKU* a listing is connected when at least one WholeCell variation has its SKU
(it then maps to all of them), else it carries the reason. With *Choose specific product variations*
a new listing is "Product not set" until variations are chosen in the admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bmsync import backmarket, wholecell
from bmsync.backmarket.states import PublicationState
from bmsync.catalog import by_name
from bmsync.clock import Clock, parse_iso, utc_iso
from bmsync.observability import logger
from bmsync.settings import ListingImportScope, ProductVariationMode, Settings
from bmsync.store.listings_repo import PRODUCT_NOT_SET, ListingItem, ListingsRepository, unmapped_reason
from bmsync.store.stock_repo import sku_key
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from bmsync.sync.flow import connections_for, run_flow, run_summary, scheduled_event, start_invocation
from bmsync.sync.ports import BackMarketListings, ListingLike, WholeCellInventory, WholeCellVariation
from bmsync.sync.wholecell_reading import quarantine_alerts, variations_or_derived

FUNCTION = by_name("listing_import")
FLOW = "listing_import"
PROGRESS_EVERY = 50
#: The sync-state document holding the last import's listing counts per scope (the console shows it).
LISTING_COUNTS_DOCUMENT = "listing_counts"
#: A scheduled import runs this often; after a failed or skipped one, at the next 5-minute schedule.
IMPORT_EVERY = timedelta(hours=1)
#: The source of an import somebody asked for (the admin's "Import listings"): it always runs.
ON_DEMAND_SOURCE = "bmsync.admin"


def import_listings(
    *,
    settings: Settings,
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
        # Without /product_variations, the variations embedded in the inventory list (with an alert).
        for variation in variations_or_derived(wholecell, state):
            key = sku_key(variation.sku)
            if key:
                variations_of_sku.setdefault(key, []).append(str(variation.id))
    known = {listing.listing_id: listing for listing in listings.all()}
    scope = settings.listing_import_scope
    counts = {"seen": 0, "new": 0, "changed": 0, "connected": 0, "unmapped": 0, "missing": 0}
    seen: set[str] = set()

    shown: ListingLike
    for shown in _listings_in_scope(backmarket, scope):
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
    _record_listing_counts(backmarket, state, now)
    run.progress = (
        f"{counts['seen']} listings imported ({scope.value}): {counts['new']} new, "
        f"{counts['changed']} changed, {counts['connected']} connected, {counts['unmapped']} not connected, "
        f"{counts['missing']} no longer listed"
    )
    logger.info("listing import", extra={"connection_id": settings.connection_id, **counts})


def _listings_in_scope(backmarket: BackMarketListings, scope: ListingImportScope) -> Iterator[Any]:
    if scope is ListingImportScope.ALL:
        yield from backmarket.iter_listings()
        return
    yield from backmarket.iter_listings(publication_state=PublicationState.ONLINE)
    # Sold out (quantity 0, or -1 after a double checkout) took them offline: restocking brings them back.
    yield from backmarket.iter_listings(publication_state=PublicationState.OFFLINE, max_quantity=0)


def _record_listing_counts(backmarket: BackMarketListings, state: SyncStateRepository, now: str) -> None:
    """How many listings each scope brings, kept so the console need not ask Back Market on every view."""
    counts = backmarket.listing_counts()
    state.put_document(
        LISTING_COUNTS_DOCUMENT,
        {
            "all": counts.all,
            "online": counts.online,
            "offline_sold_out": counts.offline_sold_out,
            "counted_at": now,
        },
    )


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


def import_due(state: SyncStateRepository, clock: Clock) -> bool:
    """Whether a scheduled import should run now: none yet, the last one failed, or an hour passed."""
    last = state.last_run(FLOW)
    if last is None or last.status != "succeeded":
        return True
    return clock.now() - parse_iso(last.started_at) >= IMPORT_EVERY - timedelta(minutes=1)


# --- wiring and the entry point


@dataclass(frozen=True)
class ListingImportWiring:
    """One connection's listing_import collaborators, as in production."""

    settings: Settings
    backmarket: BackMarketListings
    wholecell: WholeCellInventory
    listings: ListingsRepository
    state: SyncStateRepository
    clock: Clock


def wire(settings: Settings, clock: Clock) -> ListingImportWiring:
    state = SyncStateRepository(settings.connection_id, clock)
    return ListingImportWiring(
        settings=settings,
        backmarket=backmarket.client_for(settings, clock),
        wholecell=wholecell.client_for(settings, clock, on_malformed=quarantine_alerts(state)),
        listings=ListingsRepository(settings.connection_id),
        state=state,
        clock=clock,
    )


def run_connection(wired: ListingImportWiring) -> RunRecord:
    """One connection's listing import: :func:`import_listings` under the flow's lock."""

    def body(run: RunRecord) -> None:
        import_listings(
            settings=wired.settings,
            backmarket=wired.backmarket,
            wholecell=wired.wholecell,
            listings=wired.listings,
            state=wired.state,
            clock=wired.clock,
            run=run,
        )

    return run_flow(
        FLOW, wired.state, wired.clock, body, services=("backmarket", "wholecell"), listings=wired.listings
    )


def handle(event: dict[str, Any], context: Any, clock: Clock) -> dict[str, Any]:
    """The listing_import function: every 5 minutes (an import when one is due), or on demand."""
    start_invocation(FUNCTION)
    scheduled = scheduled_event(event, FUNCTION)
    on_demand = scheduled.source == ON_DEMAND_SOURCE
    return run_summary(
        FUNCTION,
        (
            (settings.connection_id, run_connection(wire(settings, clock)))
            for settings in connections_for(scheduled, context)
            if on_demand or import_due(SyncStateRepository(settings.connection_id, clock), clock)
        ),
    )
