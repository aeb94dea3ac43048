"""What an operator watches: each run publishes CloudWatch metrics (EMF lines on stdout)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bmsync.observability import take_run_measures
from bmsync.sync import order_import
from bmsync.sync.flow import run_summary
from tests.unit.orders.conftest import OrdersHarness


def _emf_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def test_an_order_import_run_publishes_orders_imported_errors_and_latency(
    harness: OrdersHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    # The harness runs the rules without run_flow, which starts each run's measures afresh: do it here
    # (another test in this process may have left a latency behind).
    take_run_measures()
    harness.order(1001, 1, minutes_ago=2)
    harness.order(1002, 1)
    run = harness.run()
    capsys.readouterr()

    run_summary(order_import.FUNCTION, [("uk", run)])

    [line] = _emf_lines(capsys.readouterr().out)
    [directive] = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "bmsync"
    assert {"function", "connection"} <= set(directive["Dimensions"][0])
    assert line["function"] == "order_import" and line["connection"] == "uk"
    assert line["OrdersImported"] == [2.0] and line["Errors"] == [0.0]
    # The slowest of the run: the order created two minutes before it was imported.
    assert line["OrderImportLatency"] == [pytest.approx(120, abs=1)]
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert units["OrderImportLatency"] == "Seconds" and units["OrdersImported"] == "Count"


def test_a_failed_run_counts_as_an_error_and_nothing_is_printed_when_metrics_are_off(
    harness: OrdersHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.order(1001, 1)
    run = harness.run().model_copy(update={"status": "failed"})
    capsys.readouterr()
    run_summary(order_import.FUNCTION, [("uk", run)])
    assert _emf_lines(capsys.readouterr().out) == []  # POWERTOOLS_METRICS_DISABLED (the tests' default)

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    run_summary(order_import.FUNCTION, [("uk", run)])
    [line] = _emf_lines(capsys.readouterr().out)
    assert line["Errors"] == [1.0] and line["OrdersImported"] == [1.0]
