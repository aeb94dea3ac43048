"""The scale phase's arithmetic: a measured window becomes a month of every connection."""

from __future__ import annotations

from typing import Any

import pytest

from bench import scale
from infra.cost import LAMBDA_PER_MILLION_REQUESTS, MINUTES_PER_MONTH


def _run(invocations: int, cpu: float, wholecell_calls: int, waited: float) -> dict[str, Any]:
    counters = {
        "invocations": invocations,
        "cpu_seconds": cpu,
        "local_aws_cpu_seconds": cpu / 2,
        "simulated_seconds": waited,
        "wholecell_calls": wholecell_calls,
        "backmarket_calls": 0,
        "dynamodb.GetItem": 10,
        "dynamodb.read_units": 10,
        "dynamodb.write_units": 4,
        "secrets-manager.GetSecretValue": 1,
    }
    return {"handlers_during_traffic": {"wholecell_watch": counters}, "size": {"stored_bytes": 1_000_000}}


def test_one_connection_measured_for_an_hour_stands_for_three_for_a_month() -> None:
    results = {"runs": {"EU": {"bmsync": _run(invocations=60, cpu=1.0, wholecell_calls=120, waited=60.0)}}}
    cost = scale.month_cost(results, hours=1.0)
    assert cost["scale_factor"] == pytest.approx(MINUTES_PER_MONTH / 60 * 3)
    requests = next(line for line in cost["lines"] if line["service"] == "Lambda requests")
    scheduled = sum(MINUTES_PER_MONTH // minutes for spec in scale.FUNCTIONS for _, minutes in spec.schedules)
    # 60 runs an hour of each of 3 connections, and one fan-out per scheduled delivery.
    assert requests["usd"] == pytest.approx(
        (60 * 24 * 30 * 3 + scheduled) / 1e6 * LAMBDA_PER_MILLION_REQUESTS
    )
    assert cost["usd_per_month"] == pytest.approx(sum(line["usd"] for line in cost["lines"]), abs=0.01)


def test_an_invocation_bills_its_cpu_at_lambdas_share_and_its_waits_once() -> None:
    counters = _run(invocations=1, cpu=1.0, wholecell_calls=4, waited=1.5)["handlers_during_traffic"]
    billed = scale.billed_seconds("wholecell_watch", counters["wholecell_watch"])
    own_cpu = 0.5 * scale.FULL_VCPU_MB / 512  # half the CPU was moto's: DynamoDB's, elsewhere in AWS
    # Four paced WholeCell requests: their 0.4 s round trips (1.6 s) outlast the 1.5 s waited.
    assert billed == pytest.approx(own_cpu + 4 * 0.4 + 10 * 0.008 + 1 * 0.02)
