"""The doctor: the seed's troubleshooting questions, answered from bmsync's own data.

For a listing, an order or a whole connection it returns findings in the seed's order ("Has the
listing been imported? Is it connected? Is quantity sync enabled?" ...), each answered in plain words
with the action that fixes it. It only reads: repositories and the clock are passed in.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel

from bmsync.clock import Clock
from bmsync.settings import ORDER_STATUS_LABELS, BackMarketOrderStatus, ProductVariationMode, Settings
from bmsync.store.listings_repo import ListingItem, ListingsRepository
from bmsync.store.orders_repo import OrderRecord, OrdersRepository
from bmsync.store.stock_repo import StockRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync import quantity_sync
from bmsync.sync.listing_import import FLOW as LISTING_IMPORT
from bmsync.sync.order_import import not_mapped_reason
from bmsync.sync.quantity_sync import QuantityDecision, decide_quantity, mapped_levels, not_imported_reason


class Finding(BaseModel):
    question: str
    ok: bool
    answer: str
    action: str = ""


class Diagnosis(BaseModel):
    subject: str
    findings: list[Finding]

    @property
    def healthy(self) -> bool:
        return all(finding.ok for finding in self.findings)


def quantity_decision(
    settings: Settings, listing: ListingItem, *, stock: StockRepository
) -> QuantityDecision:
    """The very decision quantity_sync makes for ``listing`` now (it only reads the stock mirror)."""
    return decide_quantity(listing, mapped_levels(listing, settings, stock), settings)


def find_listings(listings: ListingsRepository, reference: str) -> list[ListingItem]:
    """Listings by Back Market listing id (UUID or numeric id) or by SKU."""
    reference = reference.strip()
    found = listings.get(reference)
    if found is not None:
        return [found]
    by_sku = listings.by_sku(reference)
    if by_sku:
        return by_sku
    if reference.isdigit():
        return [listing for listing in listings.all() if listing.legacy_id == int(reference)]
    return []


def _import_finding(state: SyncStateRepository, reference: str) -> Finding:
    last = state.last_run(LISTING_IMPORT)
    when = (
        f"the last import ({last.status}, {last.finished_at or last.started_at}) did not return it"
        if last
        else "listings were never imported for this connection"
    )
    return Finding(
        question="Has the listing been imported?",
        ok=False,
        answer=f"Not imported yet: {not_imported_reason(reference)} ({when}).",
        action="Run Import listings (Listings tab); if it still does not appear, check that the listing "
        "exists on Back Market and, with the 'Online' import scope, that it is online.",
    )


def diagnose_listing(
    settings: Settings,
    reference: str,
    *,
    listings: ListingsRepository,
    stock: StockRepository,
    state: SyncStateRepository,
    clock: Clock,
) -> Diagnosis:
    found = find_listings(listings, reference)
    if not found:
        return Diagnosis(subject=f"listing {reference}", findings=[_import_finding(state, reference)])
    findings: list[Finding] = []
    for listing in found:
        findings.extend(_listing_findings(settings, listing, listings=listings, stock=stock))
    subject = (
        f"listing {found[0].sku}" if len(found) > 1 else f"listing {found[0].sku} ({found[0].listing_id})"
    )
    return Diagnosis(subject=subject, findings=findings)


def _listing_findings(
    settings: Settings, listing: ListingItem, *, listings: ListingsRepository, stock: StockRepository
) -> list[Finding]:
    name = f"{listing.title or listing.sku} ({listing.listing_id})"
    findings = [
        Finding(
            question="Has the listing been imported?",
            ok=listing.sync_status != "gone",
            answer=f"Yes: {name}, SKU {listing.sku}, imported {listing.imported_at}, "
            f"last seen {listing.seen_at}."
            if listing.sync_status != "gone"
            else quantity_sync.GONE,
            action=""
            if listing.sync_status != "gone"
            else "Run Import listings if it is back on Back Market.",
        )
    ]
    evaluation = quantity_decision(settings, listing, stock=stock)
    if evaluation.status == "unmapped":
        findings.append(
            Finding(
                question="Is the listing connected?",
                ok=False,
                answer=f"No: SKU {listing.sku} is on no product variation in WholeCell "
                "(Product Variations: Match via SKU).",
                action=f"Add SKU {listing.sku} to at least one product variation in WholeCell, then run "
                "Import listings.",
            )
        )
    elif evaluation.status == "product_not_set":
        findings.append(
            Finding(
                question="Is the listing connected?",
                ok=False,
                answer="No: \u26a0 Product not set! "
                "(Product Variations: Choose Specific Product Variations).",
                action="Open the listing and choose its product variation(s).",
            )
        )
    elif evaluation.status != "gone":
        if settings.product_variations is ProductVariationMode.CHOOSE_SPECIFIC:
            mode, linked = "chosen product variations", listings.chosen_variations(listing.listing_id)
        else:
            mode, linked = f"product variations with SKU {listing.sku}", listing.variation_ids
        variations = ", ".join(linked) or "none mirrored yet"
        findings.append(
            Finding(
                question="Is the listing connected?", ok=True, answer=f"Yes: to the {mode} ({variations})."
            )
        )
    findings.append(_quantity_sync_finding(settings))
    if listing.sync_paused:
        findings.append(
            Finding(
                question="Is quantity sync paused for this listing?",
                ok=False,
                answer=quantity_sync.PAUSED.capitalize() + ".",
                action="Resume quantity sync on the listing page.",
            )
        )
    findings.append(_last_push_finding(listing, evaluation))
    return findings


def _last_push_finding(listing: ListingItem, evaluation: QuantityDecision) -> Finding:
    synced = (
        f"last synced {listing.last_synced} at {listing.last_synced_at}"
        if listing.last_synced_at
        else "never synced by bmsync"
    )
    question = "Does Back Market show the right quantity?"
    if listing.sync_status == "error":
        return Finding(
            question=question,
            ok=False,
            answer=f"The last update was refused: {listing.last_error or listing.reason} ({synced}).",
            action="Check the listing on Back Market; the next stock change or drift check tries again.",
        )
    if listing.sync_status == "deferred":
        return Finding(question=question, ok=False, answer=quantity_sync.DEFERRED + f" ({synced}).")
    if evaluation.target is None:
        return Finding(
            question=question,
            ok=False,
            answer=f"No quantity can be computed yet; Back Market shows {listing.bm_quantity} ({synced}).",
        )
    in_line = evaluation.target == evaluation.baseline
    return Finding(
        question=question,
        ok=in_line,
        answer=f"Calculated {evaluation.total} - buffer {evaluation.buffer} = {evaluation.target}; "
        f"Back Market shows {evaluation.baseline} ({synced}).",
        action=""
        if in_line or evaluation.status != "pending"
        else "Nothing: quantity sync sends it shortly.",
    )


def _status_label(record: OrderRecord) -> str:
    if record.bm_status:
        return ORDER_STATUS_LABELS[BackMarketOrderStatus(record.bm_status)]
    return f"Back Market state {record.bm_state}" if record.bm_state is not None else "its Back Market state"


def diagnose_order(settings: Settings, order_id: str, *, orders: OrdersRepository) -> Diagnosis:
    subject = f"order {order_id}"
    record = orders.get(settings.connection_id, order_id)
    if record is None:
        if not settings.order_import_enabled:
            answer, action = "No: order import is off.", "Check 'Enable Order Import' in the settings."
        else:
            answer = "Not seen yet: order import reads new Back Market orders every minute."
            action = "Check the Status page for order import errors; check the order number."
        return Diagnosis(
            subject=subject,
            findings=[
                Finding(
                    question="Is the order coming in to WholeCell?", ok=False, answer=answer, action=action
                )
            ],
        )
    return Diagnosis(subject=subject, findings=_order_findings(settings, record))


def _order_findings(settings: Settings, record: OrderRecord) -> list[Finding]:
    findings: list[Finding] = []
    label = _status_label(record)
    status = BackMarketOrderStatus(record.bm_status) if record.bm_status else None
    target = settings.wholecell_status_for(status) if status is not None else None
    imported = record.import_state == "imported"
    # Recorded as unmapped, mapped since: order_import sees the settings change and reads it again.
    mapped_since = not imported and target is not None and record.import_status == not_mapped_reason(label)
    if status is not None and target is None:
        findings.append(
            Finding(
                question="Is the order status mapped?",
                ok=False,
                answer=f"No: {label} is not mapped to a WholeCell status.",
                action="Map it under Order Statuses in the settings: the next order import (within a "
                "minute) then looks again at every order waiting on it.",
            )
        )
    elif mapped_since:
        findings.append(
            Finding(
                question="Is the order status mapped?",
                ok=True,
                answer=f"Yes, now: {label} maps to {target!r}. It was not mapped when order import "
                f"recorded the order ({_recorded_at(record)}); the mapping was saved since: the order "
                "will be imported at the next order import run, within a minute.",
            )
        )
    findings.append(
        Finding(
            question="Is the order in WholeCell?",
            ok=imported,
            answer=record.import_status or f"Import state: {record.import_state}.",
            action=_import_action(record, mapped_since=mapped_since),
        )
    )
    if record.unknown_skus:
        skus = ", ".join(record.unknown_skus)
        findings.append(
            Finding(
                question="Are there matching SKUs in both Back Market and WholeCell?",
                ok=False,
                answer=f'No: "Unknown SKU" for {skus}.',
                action=f"Add {skus} to a product variation in WholeCell and run Import listings.",
            )
        )
    if record.export_state == "held_not_validated":
        findings.append(
            Finding(
                question="Was the order validated in Back Market before the shipment was added?",
                ok=False,
                answer="No: shipment held: the order was not validated on Back Market. "
                + record.export_reason,
                action="Validate (accept) the order on Back Market: the shipment is sent by itself then.",
            )
        )
    elif record.export_state == "held_unknown_carrier":
        findings.append(
            Finding(
                question="Does Back Market know the shipment's carrier?",
                ok=False,
                answer="No: " + record.export_reason,
                action="Map the carrier to a Back Market shipper under Carriers (carrier_map) in the "
                "settings: the shipment is sent by itself then.",
            )
        )
    elif record.export_state in ("rejected", "failed", "failed_retrying"):
        findings.append(
            Finding(
                question="Has the shipment reached Back Market?",
                ok=False,
                answer=record.export_reason or record.export_state,
                action="Nothing: it is retried."
                if record.export_state == "failed_retrying"
                else "Fix the cause named in the answer on Back Market or in WholeCell.",
            )
        )
    elif record.shipment is not None:
        sent = record.export_state == "sent"
        findings.append(
            Finding(
                question="Has the shipment reached Back Market?",
                ok=sent or record.export_state in ("pending", "sending"),
                answer=record.export_reason
                or f"Shipment {record.shipment.tracking_number}: {record.export_state}.",
            )
        )
    if record.status_note:
        findings.append(
            Finding(
                question="Is the sales order status sticking?",
                ok=False,
                answer=record.status_note,
                action="Check the order status mapping in the settings.",
            )
        )
    return findings


def _recorded_at(record: OrderRecord) -> str:
    recorded = next(
        (event.at for event in reversed(record.history) if event.event == record.import_status), None
    )
    return recorded or record.updated_at or "earlier"


def _import_action(record: OrderRecord, *, mapped_since: bool) -> str:
    if record.import_state == "imported":
        return ""
    if record.import_state == "needs_confirmation":
        return (
            "Look for it among WholeCell's Backmarket sales orders, then answer on the order's page: "
            "'It is not in WholeCell: create it', or 'It is in WholeCell: order #…'."
        )
    # A person answered "not in WholeCell" or "in WholeCell as order #N" (order_import's confirm_*).
    if mapped_since or record.import_status.startswith("confirmed "):
        return "Nothing to do: it comes in at the next order import run."
    if record.import_state == "not_imported" and not record.import_status.startswith("not imported yet"):
        return (
            "Fix the cause named in the answer. A change of the order statuses, organization type or "
            "product variations settings makes the next order import try it again; so does a change "
            "of the order on Back Market, or the daily catch-up."
        )
    return "Nothing to do: the next order import tries again by itself."


def diagnose_connection(
    settings: Settings,
    *,
    secrets_set: dict[str, bool],
    listings: ListingsRepository,
    orders: OrdersRepository,
    state: SyncStateRepository,
) -> Diagnosis:
    findings: list[Finding] = []
    for key, what in (
        ("backmarket_token_set", "Back Market token"),
        ("wholecell_credentials_set", "WholeCell App ID and Secret"),
    ):
        findings.append(
            Finding(
                question=f"Is the {what} set?",
                ok=secrets_set[key],
                answer="Yes." if secrets_set[key] else "No.",
                action="" if secrets_set[key] else f"Save the {what} on the Connection page.",
            )
        )
    for alert in state.alerts():
        if alert.severity == "critical":
            findings.append(
                Finding(
                    question="Is anything blocking the sync?",
                    ok=False,
                    answer=alert.message,
                    action=alert.action,
                )
            )
    findings.append(
        Finding(
            question="Is the 'Enable Order Import' box checked?",
            ok=settings.order_import_enabled,
            answer="Yes." if settings.order_import_enabled else "No: orders are not coming in.",
            action="" if settings.order_import_enabled else "Check 'Enable Order Import' in the settings.",
        )
    )
    for status in BackMarketOrderStatus:
        if (
            status is not BackMarketOrderStatus.PENDING_PAYMENT
            and settings.wholecell_status_for(status) is None
        ):
            findings.append(
                Finding(
                    question="Are the order statuses mapped?",
                    ok=False,
                    answer=f"{ORDER_STATUS_LABELS[status]} is not mapped to a WholeCell status.",
                    action="Map it under Order Statuses in the settings.",
                )
            )
    findings.append(_quantity_sync_finding(settings))
    findings.append(_listings_finding(listings.all(), state))
    findings.extend(_orders_findings(orders.list(settings.connection_id)))
    return Diagnosis(subject=f"connection {settings.connection_id}", findings=findings)


def _listings_finding(all_listings: list[ListingItem], state: SyncStateRepository) -> Finding:
    if not all_listings:
        last = state.last_run(LISTING_IMPORT)
        return Finding(
            question="Have all of your listings been imported?",
            ok=False,
            answer="No listing imported yet"
            + (f" (last import {last.status}: {last.error or last.progress})." if last else "."),
            action="Run Import listings (Listings tab).",
        )
    by_status = Counter(item.sync_status for item in all_listings)
    unconnected = by_status["unmapped"] + by_status["product_not_set"]
    errors = by_status["error"]
    return Finding(
        question="Are the listings connected?",
        ok=unconnected == 0 and errors == 0,
        answer=f"{len(all_listings)} listings: {unconnected} not connected, "
        f"{errors} with a quantity sync error.",
        action=""
        if unconnected == 0 and errors == 0
        else "Filter the Listings tab on them and follow each one's explanation.",
    )


def _orders_findings(records: list[OrderRecord]) -> list[Finding]:
    findings: list[Finding] = []
    unknown = [record.order_id for record in records if record.unknown_skus]
    if unknown:
        findings.append(
            Finding(
                question='Do orders come in with "Unknown SKU"?',
                ok=False,
                answer=f"{len(unknown)} order(s): {', '.join(unknown[:10])}.",
                action="Open each order in the doctor for the SKU to add in WholeCell.",
            )
        )
    held = [record.order_id for record in records if record.export_state == "held_not_validated"]
    if held:
        findings.append(
            Finding(
                question="Was each order validated in Back Market before the shipment was added?",
                ok=False,
                answer=f"Shipment held for {len(held)} order(s) not validated on Back Market: "
                f"{', '.join(held[:10])}.",
                action="Validate those orders on Back Market: their shipments are sent by themselves then.",
            )
        )
    return findings


def _quantity_sync_finding(settings: Settings) -> Finding:
    return Finding(
        question="Is the 'Enable Quantity Sync' box checked?",
        ok=settings.quantity_sync_enabled,
        answer="Yes." if settings.quantity_sync_enabled else "No: quantity sync is off.",
        action="" if settings.quantity_sync_enabled else "Enable Inventory Quantity Sync in the settings.",
    )
