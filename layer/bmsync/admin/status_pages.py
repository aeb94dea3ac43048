"""Status: the verdict first, then the day in pictures, each flow's last run, the alerts and the backlog."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import LambdaFunctionUrlRouter

from bmsync.admin.charts import Series, chart
from bmsync.admin.html import esc, table, time_html
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


def _seconds(value: int | None) -> str:
    if value is None:
        return "no crossing measured"
    return f"≤ {value} s" if value < 120 else f"≤ {value // 60} min"


def speed_view(day: dict[str, Any]) -> str:
    """How fast it is today: p50/p95 per direction in words, then the hourly p95 lines."""
    rows = [
        [
            esc(measures["label"]),
            esc(_seconds(measures["p50"])),
            esc(_seconds(measures["p95"])),
            esc(measures["samples"]),
        ]
        for measures in day["latency"].values()
    ]
    lines = [
        Series(measures["label"], measures["hourly_p95"], f"s{number}")
        for number, measures in enumerate(day["latency"].values(), start=1)
    ]
    summary = "; ".join(
        f"{measures['label']}: half within {_seconds(measures['p50'])}, "
        f"95% within {_seconds(measures['p95'])}"
        for measures in day["latency"].values()
    )
    return table(["Direction", "p50 (24 h)", "p95 (24 h)", "Crossings"], rows) + chart(
        "Slowest 5% per hour (p95, seconds)",
        day["hours"],
        lines,
        kind="lines",
        unit=" s",
        summary="Latency p95 per hour over the last 24 hours. " + summary,
    )


def day_view(day: dict[str, Any]) -> str:
    totals = day["totals"]
    work = chart(
        "Work done per hour",
        day["hours"],
        [
            Series("orders imported", totals["orders_imported"], "s1"),
            Series("quantities pushed", totals["quantities_pushed"], "s2"),
            Series("shipments sent", totals["shipments_sent"], "s3"),
        ],
        summary=(
            f"Over the last 24 hours: {sum(totals['orders_imported'])} orders imported, "
            f"{sum(totals['quantities_pushed'])} quantities pushed, "
            f"{sum(totals['shipments_sent'])} shipments sent."
        ),
    )
    budgets = chart(
        "Back Market limits used (highest per hour, %)",
        day["hours"],
        [
            Series("hourly SKU-update budget", day["sku_budget_use_percent"], "s2"),
            Series("request window", day["request_window_use_percent"], "s3"),
        ],
        kind="lines",
        unit="%",
        top=100,
        summary="Share of Back Market's hourly SKU-update budget and of its request window used, per hour.",
    )
    trouble = chart(
        "Errors and new alerts per hour",
        day["hours"],
        [Series("errors", totals["errors"], "bad"), Series("new alerts", totals["alerts"], "warn")],
        summary=(
            f"Over the last 24 hours: {sum(totals['errors'])} errors and {sum(totals['alerts'])} new alerts."
        ),
    )
    return f'<div class="charts">{work}{budgets}{trouble}</div>'


def status_view(connection_id: str, document: dict[str, Any]) -> Response[str]:
    now = document["now"]
    alert_rows = [
        [
            f'<span class="{"bad" if alert["severity"] in ("critical", "error") else "warn"}">'
            f"{esc(alert['severity'])}</span>",
            esc(alert["message"]),
            esc(alert["action"]),
            esc(alert["subject"]),
            time_html(alert["raised_at"], alert["when"]) + esc(f" (×{alert['count']})"),
        ]
        for alert in document["alerts"]
    ]
    run_rows = []
    for flow in document["flows"]:
        run = flow["last_run"]
        if run is None:
            run_rows.append([esc(flow["flow"]), "never ran", "", "", ""])
            continue
        status_class = {"succeeded": "ok", "failed": "bad"}.get(run["status"], "warn")
        progress = f" — {esc(run['progress'])}" if run["progress"] else ""
        run_rows.append(
            [
                esc(flow["flow"]),
                f'<span class="{status_class}">{esc(run["status"])}</span>{progress}',
                time_html(run["finished_at"] or run["started_at"], flow["when"]),
                esc(flow["counts_in_words"]),
                esc(run["error"] or ""),
            ]
        )
    backlog_rows = [[esc(name), esc(value)] for name, value in document["backlog"].items() if value]
    verdict = document["verdict"]
    body = (
        f'<p class="verdict {"ok" if verdict["healthy"] else "bad"}" role="status">{esc(verdict["text"])}</p>'
        f'<p class="help">Times are UTC; it is now {time_html(now, "")}.</p>'
        "<h2>How fast, today</h2>"
        + speed_view(document["day"])
        + "<h2>The last 24 hours</h2>"
        + day_view(document["day"])
        + "<h2>Alerts</h2>"
        + table(["Severity", "What happened", "What to do", "About", "Since"], alert_rows, empty="No alerts.")
        + "<h2>Flows</h2>"
        + table(["Flow", "Last run", "When", "What it did", "Error"], run_rows)
        + f'<p class="help">{esc(document["reconciliation"]["text"])}.</p>'
        + "<h2>Backlog</h2>"
        + table(["Waiting", "How many"], backlog_rows, empty="Nothing waiting.")
    )
    return page("Status", body, connection_id=connection_id)
