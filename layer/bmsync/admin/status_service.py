"""Status: each flow's last run, the alerts a person must act on, and what waits (the backlog)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bmsync.admin.services import AdminServices
from bmsync.catalog import FUNCTIONS
from bmsync.store.sync_state import Alert

FLOWS = tuple(spec.name for spec in FUNCTIONS if not spec.function_url)


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


def status_document(services: AdminServices, connection_id: str) -> dict[str, Any]:
    state = services.state(connection_id)
    runs = {run.flow: run for run in state.runs()}
    # Every function, ran or not, then the sub-flows that ran (e.g. quantity_sync.drift_check).
    names = [*FLOWS, *sorted(set(runs) - set(FLOWS))]
    flows = [{"flow": name, "last_run": runs[name].model_dump() if name in runs else None} for name in names]
    alerts = sorted(state.alerts(), key=_alert_order)
    return {
        "connection_id": connection_id,
        "flows": flows,
        "alerts": [alert.model_dump() for alert in alerts],
        "backlog": backlog(services, connection_id),
    }
