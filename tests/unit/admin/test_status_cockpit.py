"""The status page a person reads first: the verdict, the day in pictures, runs in words and local time."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest

from bmsync.admin.charts import Series, chart
from bmsync.clock import ManualClock, utc_iso
from bmsync.observability import RunMeasures, latency_bucket, record_latency, take_run_measures
from bmsync.store.run_aggregates import RunAggregatesRepository, percentile
from bmsync.store.sync_state import RunRecord, SyncStateRepository
from tests.unit.admin.conftest import AdminClient

CID = "default"
SVG = "{http://www.w3.org/2000/svg}"


def _run(flow: str, clock: ManualClock, **counts: int) -> RunRecord:
    now = utc_iso(clock.now())
    return RunRecord(flow=flow, started_at=now, finished_at=now, status="succeeded", counts=counts)


def test_a_chart_is_an_accessible_svg_with_axes_bars_and_lines() -> None:
    bars = chart("Work per hour", ["10:00", "11:00", "12:00"], [Series("orders", [1, 0, 4])], unit="")
    svg = ElementTree.fromstring(  # noqa: S314
        re.search(r"<svg.*</svg>", bars).group(0).replace("<svg", f'<svg xmlns="{SVG[1:-1]}"', 1)
    )
    assert svg.get("role") == "img" and svg.get("aria-label") == "Work per hour"
    assert svg.find(f"{SVG}title").text == "Work per hour"
    rects = svg.findall(f"{SVG}rect")
    assert len(rects) == 2  # the empty hour draws nothing
    heights = sorted(float(rect.get("height")) for rect in rects)
    assert heights[1] == pytest.approx(4 * heights[0])  # bars in proportion to their values
    ticks = [text.text for text in svg.iter(f"{SVG}text")]
    assert "5" in ticks and "0" in ticks and "10:00" in ticks  # value axis (rounded up) and time axis
    lines = chart("p95", ["a", "b", "c"], [Series("orders", [5, None, 30], "s2")], kind="lines", unit=" s")
    assert lines.count("<polyline") == 1 and lines.count("<circle") == 2
    assert "style=" not in bars + lines and "<script" not in bars + lines  # the CSP allows neither


def test_chart_escapes_names() -> None:
    drawn = chart("<b>", ["<x>"], [Series('"><script>', [1])])
    assert "<script>" not in drawn and "<b>" not in drawn


def test_latency_buckets_give_p50_and_p95() -> None:
    assert latency_bucket(0.2) == 5 and latency_bucket(31) == 60 and latency_bucket(10**9) == 86400
    buckets = {5: 90, 60: 5, 600: 5}
    assert (
        percentile(buckets, 0.5) == 5 and percentile(buckets, 0.95) == 60 and percentile(buckets, 0.99) == 600
    )
    assert percentile({}, 0.5) is None


def test_one_write_per_run_adds_into_its_minute_and_expires(aws: None, clock: ManualClock) -> None:
    aggregates = RunAggregatesRepository(CID)
    measures = RunMeasures(latency_counts={"OrderImport": {5: 2, 60: 1}}, sku_updates_left=1800)
    aggregates.add_run("order_import", _run("order_import", clock, imported=3), measures)
    aggregates.add_run("order_import", _run("order_import", clock, imported=2, failed=1), RunMeasures())
    [minute] = aggregates.minutes(clock.now() - timedelta(minutes=5), clock.now())
    assert minute.count("orders_imported") == 5 and minute.count("errors") == 1
    assert minute.count("runs.order_import") == 2
    assert minute.latency == {"OrderImport": {5: 2, 60: 1}} and minute.sku_left == 1800
    import boto3

    [item] = boto3.resource("dynamodb").Table("bmsync-sync_state").scan()["Items"] or [None]
    assert int(item["expires_at"]) > clock.now().timestamp() + 24 * 3600


def test_record_latency_counts_every_crossing_and_keeps_the_slowest() -> None:
    take_run_measures()
    for seconds in (1, 2, 40):
        record_latency("QuantitySync", seconds)
    measures = take_run_measures()
    assert measures.slowest == {"QuantitySync": 40} and measures.latency_counts == {
        "QuantitySync": {5: 2, 60: 1}
    }
    assert take_run_measures().latency_counts == {}


def test_status_says_healthy_and_draws_the_day(signed_in: AdminClient, clock: ManualClock) -> None:
    state = SyncStateRepository(CID, clock)
    aggregates = RunAggregatesRepository(CID)
    for hours_ago in (3, 1):
        at = clock.now() - timedelta(hours=hours_ago)
        run = RunRecord(
            flow="order_import",
            started_at=utc_iso(at),
            finished_at=utc_iso(at),
            status="succeeded",
            counts={"imported": 4},
        )
        aggregates.add_run("order_import", run, RunMeasures(latency_counts={"OrderImport": {15: 9, 120: 1}}))
    run = _run("quantity_sync", clock, pushed=2, skipped_finished_before_first_import=0)
    state.save_run(run.model_copy(update={"finished_at": utc_iso(clock.now() - timedelta(minutes=3))}))
    document = signed_in.api("GET", f"/api/connections/{CID}/status").json()
    assert document["verdict"] == {"healthy": True, "text": "Healthy"}
    assert sum(document["day"]["totals"]["orders_imported"]) == 8
    assert document["day"]["latency"]["OrderImport"]["p50"] == 15
    assert document["day"]["latency"]["OrderImport"]["p95"] == 120
    quantity = next(flow for flow in document["flows"] if flow["flow"] == "quantity_sync")
    assert (
        quantity["counts_in_words"] == "2 quantities pushed to Back Market"
        and quantity["when"] == "3 min ago"
    )

    html = signed_in.request("GET", f"/connections/{CID}/status").body
    assert '<p class="verdict ok" role="status">Healthy</p>' in html
    assert html.count('<svg role="img"') == 4
    assert "order → WholeCell" in html and "≤ 15 s" in html and "≤ 2 min" in html
    assert "3 min ago" in html and '<time datetime="' in html and " UTC" in html
    assert "skipped_finished" not in html and "never ran" in html  # other flows have not run


def test_status_says_what_needs_a_person(signed_in: AdminClient, clock: ManualClock) -> None:
    state = SyncStateRepository(CID, clock)
    state.raise_alert(
        "backmarket-token", "Back Market refused the token", severity="critical", action="Reset it"
    )
    failed = _run("listing_import", clock).model_copy(
        update={"status": "failed", "error": "Back Market is down"}
    )
    state.save_run(failed)
    document = signed_in.api("GET", f"/api/connections/{CID}/status").json()
    assert document["verdict"]["healthy"] is False
    assert document["verdict"]["text"].startswith("Needs you: Back Market refused the token")
    assert "listing_import failed: Back Market is down" in document["verdict"]["text"]
    assert sum(document["day"]["totals"]["alerts"]) == 1  # the alert is counted once, in its hour
    html = signed_in.request("GET", f"/connections/{CID}/status").body
    assert '<p class="verdict bad" role="status">Needs you: ' in html


def test_status_says_where_the_wholecell_reconciliation_is(
    signed_in: AdminClient, clock: ManualClock
) -> None:
    state = SyncStateRepository(CID, clock)
    assert (
        signed_in.api("GET", f"/api/connections/{CID}/status").json()["reconciliation"]["text"]
        == "Reconciliation: not started yet"
    )
    started = utc_iso(clock.now() - timedelta(minutes=12))
    completed = utc_iso(clock.now() - timedelta(hours=3))
    under_way = {
        "started_at": started,
        "endpoints": ["product_variations", "inventories:Available", "sales_orders"],
        "endpoint": 1,
        "page": 57,
        "pages": 173,
        "pages_read": 58,
        "runs": 2,
    }
    last = {"started_at": completed, "completed_at": completed, "pages_read": 210, "runs": 5}
    state.put_document("wholecell_watch", {"reconciliation": under_way, "last_reconciliation": last})
    document = signed_in.api("GET", f"/api/connections/{CID}/status").json()
    assert document["reconciliation"]["text"] == (
        "Reconciliation: page 57 of 173 (units in Available), started 12 min ago; "
        "the last one completed 3 h ago"
    )
    assert document["reconciliation"]["under_way"]["page"] == 57
    html = signed_in.request("GET", f"/connections/{CID}/status").body
    assert "Reconciliation: page 57 of 173 (units in Available), started 12 min ago" in html

    state.put_document("wholecell_watch", {"reconciliation": None, "last_reconciliation": last})
    html = signed_in.request("GET", f"/connections/{CID}/status").body
    assert "Reconciliation: last completed 3 h ago (210 pages in 5 runs)." in html
