"""Status: each flow's last run, the alerts a person must act on, what waits (the backlog), the day in
pictures (from the per-minute aggregates) and the one-line verdict at the top."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from bmsync.admin.services import AdminServices
from bmsync.backmarket.limiter import DEFAULT_REQUESTS_PER_WINDOW, DEFAULT_SKU_UPDATES_PER_HOUR
from bmsync.catalog import FUNCTIONS
from bmsync.clock import parse_iso, utc_iso
from bmsync.store.run_aggregates import DIRECTIONS, Minute, percentile
from bmsync.store.sync_state import Alert, SyncStateRepository
from bmsync.sync import wholecell_watch

FLOWS = tuple(spec.name for spec in FUNCTIONS if not spec.function_url)
HOURS = 24

#: What each run count means, in words (a count not listed is shown with its name in words).
COUNT_LABELS = {
    "imported": "orders imported",
    "would_create": "orders shadow mode would create",
    "would_push": "quantities shadow mode would push",
    "unknown_sku": "orders with an Unknown SKU",
    "status_updated": "WholeCell statuses updated",
    "skipped_finished_before_first_import": "orders finished before the first import (skipped)",
    "retried": "orders retried",
    "recovered": "orders recovered after a crash",
    "not_mapped": "orders in a Back Market state not mapped to a WholeCell status",
    "busy_elsewhere": "orders another run was handling",
    "validated": "orders validated on Back Market",
    "read": "orders read from Back Market",
    "exports_requeued": "shipment exports queued again",
    "pushed": "quantities pushed to Back Market",
    "deferred": "quantities deferred (hourly budget)",
    "out_of_time": "quantities left for the next drift check (out of time)",
    "unchanged": "listings already right",
    "failed": "failed (will be retried)",
    "errors": "errors",
    "rejected": "refused by Back Market",
    "checked": "listings checked",
    "drifted": "listings that had drifted",
    "not_on_backmarket": "listings no longer on Back Market",
    "sent": "shipments sent to Back Market",
    "held_not_validated": "shipments held (order not validated)",
    "pending": "shipments waiting",
    "sending": "shipments being sent",
    "failed_retrying": "shipments being retried",
    "none": "orders with nothing to ship",
    "seen": "listings read",
    "new": "new listings",
    "changed": "listings changed",
    "connected": "listings connected",
    "unmapped": "listings not connected",
    "missing": "listings no longer listed",
    "full_reconciliation": "full reconciliations completed",
    "reconciliation_pages": "WholeCell pages read by the reconciliation",
    "units_gone": "units no longer available (found by the reconciliation)",
    "units_read": "units read",
    "units_changed": "units changed",
    "sales_orders_read": "sales orders read",
    "sales_orders_changed": "sales orders changed",
    "variations_changed": "variations whose stock changed",
    "shipments_captured": "shipments captured",
    "listings_marked_for_settings": "listings re-checked after a settings change",
}
DIRECTION_LABELS = {
    "QuantitySync": "stock change → Back Market",
    "OrderImport": "order → WholeCell",
    "ShipmentExport": "shipment → Back Market",
}


def count_label(name: str) -> str:
    if name in COUNT_LABELS:
        return COUNT_LABELS[name]
    if name.startswith("not_pushed_"):
        return f"quantities not pushed ({name.removeprefix('not_pushed_').replace('_', ' ')})"
    return name.replace("_", " ")


def counts_in_words(counts: dict[str, int]) -> str:
    """The counts that are not zero, largest first, in words: "12 orders imported, 1 errors"."""
    shown = sorted(((value, name) for name, value in counts.items() if value), key=lambda item: -item[0])
    return ", ".join(f"{value} {count_label(name)}" for value, name in shown) or "nothing to do"


def ago(moment: str | None, now: datetime) -> str:
    """ "3 min ago", "just now", "2 h ago", "yesterday"... (the server's clock: no script needed)."""
    if not moment:
        return ""
    seconds = (now - parse_iso(moment)).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{round(seconds / 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def _alert_order(alert: Alert) -> tuple[int, int, str]:
    # A revoked or rejected token stops everything: it comes first, then by severity.
    order = {"critical": 0, "error": 1, "warning": 2, "info": 3}
    about_token = "token" in (alert.alert_id + alert.message).lower() or alert.subject == "connection"
    return (0 if about_token and alert.severity == "critical" else 1, order[alert.severity], alert.raised_at)


def backlog(services: AdminServices, connection_id: str) -> dict[str, int]:
    """What waits for bmsync or for a person, by kind."""
    orders = services.orders().list(connection_id)
    listings = services.listings(connection_id).all()
    export_states = Counter(order.export_state for order in orders)
    sync_states = Counter(listing.sync_status for listing in listings)
    return {
        "shipments waiting to be sent to Back Market": export_states["pending"] + export_states["sending"],
        "shipments being retried": export_states["failed_retrying"],
        "shipments held (order not validated on Back Market)": export_states["held_not_validated"],
        "orders not imported": sum(1 for order in orders if order.import_state == "not_imported"),
        "orders with Unknown SKU": sum(1 for order in orders if order.unknown_skus),
        "listing quantities deferred": sync_states["deferred"],
        "listing quantity sync errors": sync_states["error"],
        "listings not connected": sum(1 for listing in listings if not listing.connected),
    }


#: Backlog entries that need a person (the others clear by themselves).
NEEDS_PERSON = (
    "shipments held (order not validated on Back Market)",
    "orders not imported",
    "orders with Unknown SKU",
    "listing quantity sync errors",
)


def day_in_hours(minutes: list[Minute], now: datetime) -> dict[str, Any]:
    """The last 24 hours, hour by hour (oldest first), from the per-minute aggregates."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    labels = [(start + timedelta(hours=index)).strftime("%H:00") for index in range(HOURS)]
    totals = {
        name: [0] * HOURS
        for name in ("orders_imported", "quantities_pushed", "shipments_sent", "errors", "alerts")
    }
    sku_use: list[float | None] = [None] * HOURS
    request_use: list[float | None] = [None] * HOURS
    latency_hourly: dict[str, list[dict[int, int]]] = {d: [{} for _ in range(HOURS)] for d in DIRECTIONS}
    latency_day: dict[str, dict[int, int]] = {d: {} for d in DIRECTIONS}
    for minute in minutes:
        slot = int((minute.minute - start).total_seconds() // 3600)
        if not 0 <= slot < HOURS:
            continue
        for name, values in totals.items():
            values[slot] += minute.count(name)
        if minute.sku_left is not None:
            used = 100 * (1 - minute.sku_left / DEFAULT_SKU_UPDATES_PER_HOUR)
            sku_use[slot] = max(sku_use[slot] or 0.0, used)
        if minute.requests_left is not None:
            used = 100 * (1 - minute.requests_left / DEFAULT_REQUESTS_PER_WINDOW)
            request_use[slot] = max(request_use[slot] or 0.0, used)
        for direction, buckets in minute.latency.items():
            if direction not in latency_day:
                continue
            for bound, amount in buckets.items():
                hourly = latency_hourly[direction][slot]
                hourly[bound] = hourly.get(bound, 0) + amount
                latency_day[direction][bound] = latency_day[direction].get(bound, 0) + amount
    latency = {
        direction: {
            "label": DIRECTION_LABELS[direction],
            "p50": percentile(latency_day[direction], 0.5),
            "p95": percentile(latency_day[direction], 0.95),
            "samples": sum(latency_day[direction].values()),
            "hourly_p50": [percentile(buckets, 0.5) for buckets in latency_hourly[direction]],
            "hourly_p95": [percentile(buckets, 0.95) for buckets in latency_hourly[direction]],
        }
        for direction in DIRECTIONS
    }
    return {
        "hours": labels,
        "totals": totals,
        "sku_budget_use_percent": sku_use,
        "request_window_use_percent": request_use,
        "latency": latency,
    }


def verdict(alerts: list[Alert], waiting: dict[str, int], flows: list[dict[str, Any]]) -> dict[str, Any]:
    """One line a person reads first: "Healthy", or what needs them, most urgent first."""
    needs = [alert.message for alert in alerts if alert.severity in ("critical", "error")]
    needs += [f"{waiting[name]} {name}" for name in NEEDS_PERSON if waiting.get(name)]
    needs += [
        f"{flow['flow']} failed: {flow['last_run']['error'] or 'see its run'}"
        for flow in flows
        if flow["last_run"] and flow["last_run"]["status"] == "failed"
    ]
    warnings = [alert.message for alert in alerts if alert.severity == "warning"]
    if needs:
        return {
            "healthy": False,
            "text": "Needs you: " + "; ".join(needs[:3]) + (" …" if len(needs) > 3 else ""),
        }
    if warnings:
        return {"healthy": True, "text": "Healthy, with warnings: " + "; ".join(warnings[:2])}
    return {"healthy": True, "text": "Healthy"}


def reconciliation(state: SyncStateRepository, now: datetime) -> dict[str, Any]:
    """wholecell_watch's full re-read of WholeCell, in words: where the pass under way is, or when
    the last one completed ("Reconciliation: page 57 of 173 (units in Available), started 12 min ago")."""
    cursors = state.get_document(wholecell_watch.CURSOR_DOCUMENT) or {}
    under_way = cursors.get("reconciliation")
    last = cursors.get("last_reconciliation")
    if under_way:
        position = wholecell_watch.Reconciliation(under_way).position()
        text = f"Reconciliation: {position}, started {ago(under_way['started_at'], now)}"
        if last:
            text += f"; the last one completed {ago(last['completed_at'], now)}"
    elif last:
        text = (
            f"Reconciliation: last completed {ago(last['completed_at'], now)} "
            f"({last['pages_read']} pages in {last['runs']} runs)"
        )
    elif cursors.get("reconciled_at"):
        text = f"Reconciliation: last completed {ago(cursors['reconciled_at'], now)}"
    else:
        text = "Reconciliation: not started yet"
    return {"under_way": under_way, "last": last, "text": text}


def status_document(services: AdminServices, connection_id: str) -> dict[str, Any]:
    state = services.state(connection_id)
    now = services.clock().now()
    runs = {run.flow: run for run in state.runs()}
    # Every function, ran or not, then the sub-flows that ran (e.g. quantity_sync.drift_check).
    names = [*FLOWS, *sorted(set(runs) - set(FLOWS))]
    flows = []
    for name in names:
        run = runs.get(name)
        flows.append(
            {
                "flow": name,
                "last_run": run.model_dump() if run else None,
                "counts_in_words": counts_in_words(run.counts) if run else "",
                "when": ago(run.finished_at or run.started_at, now) if run else "",
            }
        )
    alerts = sorted(state.alerts(), key=_alert_order)
    waiting = backlog(services, connection_id)
    minutes = services.aggregates(connection_id).minutes(now - timedelta(hours=HOURS), now)
    return {
        "connection_id": connection_id,
        "now": utc_iso(now),
        "verdict": verdict(alerts, waiting, flows),
        "flows": flows,
        "alerts": [alert.model_dump() | {"when": ago(alert.raised_at, now)} for alert in alerts],
        "backlog": waiting,
        "reconciliation": reconciliation(state, now),
        "day": day_in_hours(minutes, now),
    }
