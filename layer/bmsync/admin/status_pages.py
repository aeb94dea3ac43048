"""Status: each flow's last run, counts and errors, and the alerts a person must act on."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import LambdaFunctionUrlRouter

from bmsync.admin.html import esc, table
from bmsync.admin.status_service import status_document
from bmsync.admin.web import admin_request, connection_id_from, json_response, page

router = LambdaFunctionUrlRouter()


@router.get("/api/connections/<connection_id>/status")
def api_status(connection_id: str) -> Response[str]:
    return json_response(200, status_document(admin_request().services, connection_id_from(connection_id)))


@router.get("/connections/<connection_id>/status")
def status_page(connection_id: str) -> Response[str]:
    cid = connection_id_from(connection_id)
    return status_view(cid, status_document(admin_request().services, cid))


def status_view(connection_id: str, document: dict[str, Any]) -> Response[str]:
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
        + table(["Severity", "What happened", "What to do", "About", "Since"], alert_rows, empty="No alerts.")
        + "<h2>Flows</h2>"
        + table(["Flow", "Last run", "When", "Counts", "Error"], run_rows)
        + "<h2>Backlog</h2>"
        + table(["Waiting", "How many"], backlog_rows, empty="Nothing waiting.")
    )
    return page("Status", body, connection_id=connection_id)
