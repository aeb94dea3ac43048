"""Status: each flow's last run, counts and errors, and the alerts a person must act on."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from bmsync.admin.html import esc, layout, table
from bmsync.admin.services import AdminServices
from bmsync.admin.web import caller, connection_id_from, html_response, json_response
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


def register(app: LambdaFunctionUrlResolver, services: AdminServices) -> None:
    @app.get("/api/connections/<connection_id>/status")
    def api_status(connection_id: str) -> Response[str]:
        return json_response(200, status_document(services, connection_id_from(connection_id)))

    @app.get("/connections/<connection_id>/status")
    def status_page(connection_id: str) -> Response[str]:
        document = status_document(services, connection_id_from(connection_id))
        alert_rows = [
            [
                f'<span class="{"bad" if alert["severity"] in ("critical", "error") else "warn"}">'
                f"{esc(alert['severity'])}</span>",
                esc(alert["message"]),
                esc(alert["action"]),
                esc(alert["subject"]),
                esc(f"{alert['raised_at']} (×{alert['count']})"),
            ]
            for alert in document["alerts"]
        ]
        run_rows = []
        for flow in document["flows"]:
            run = flow["last_run"]
            if run is None:
                run_rows.append([esc(flow["flow"]), "never ran", "", "", ""])
                continue
            counts = ", ".join(f"{name} {value}" for name, value in sorted(run["counts"].items()))
            status_class = {"succeeded": "ok", "failed": "bad"}.get(run["status"], "warn")
            run_rows.append(
                [
                    esc(flow["flow"]),
                    f'<span class="{status_class}">{esc(run["status"])}</span> {esc(run["progress"])}',
                    esc(run["finished_at"] or run["started_at"]),
                    esc(counts),
                    esc(run["error"] or ""),
                ]
            )
        backlog_rows = [[esc(name), esc(value)] for name, value in document["backlog"].items() if value]
        body = (
            "<h2>Alerts</h2>"
            + table(
                ["Severity", "What happened", "What to do", "About", "Since"], alert_rows, empty="No alerts."
            )
            + "<h2>Flows</h2>"
            + table(["Flow", "Last run", "When", "Counts", "Error"], run_rows)
            + "<h2>Backlog</h2>"
            + table(["Waiting", "How many"], backlog_rows, empty="Nothing waiting.")
        )
        who = caller(app)
        return html_response(200, layout("Status", body, csrf=who.csrf, connection_id=connection_id))
