"""The cost estimate in docs/deploy.md is the one computed from the template the stack synthesizes."""

from __future__ import annotations

from typing import Any

import pytest

from bmsync.backmarket.limiter import REQUEST_BATCH
from bmsync.catalog import FUNCTIONS
from infra.config import REPO
from infra.cost import (
    DOC_TABLE,
    MINUTES_PER_MONTH,
    Measured,
    Volume,
    estimate,
    fixed_lines,
    markdown,
    measured_estimate,
    shared_budget_takes,
)


def _line(lines: list[Any], service: str) -> Any:
    return next(line for line in lines if line.service == service)


def test_docs_show_the_estimate_of_the_current_stack(deployed: Any) -> None:
    doc = (REPO / "docs" / "deploy.md").read_text()
    shown = DOC_TABLE.search(doc)
    assert shown, "docs/deploy.md lost its cost table markers"
    assert shown.group(2) == markdown(estimate(deployed.raw)), (
        "the stack changed: run `make synth && .venv/bin/python -m infra.cost --write-docs`"
    )


def test_estimate_counts_what_the_template_deploys(deployed: Any) -> None:
    lines = estimate(deployed.raw)
    # Every schedule of the catalogue, over 30 days (two every-minute polls make most of them).
    runs = sum(MINUTES_PER_MONTH // minutes for spec in FUNCTIONS for _, minutes in spec.schedules)
    assert runs > 2 * MINUTES_PER_MONTH
    assert f"{runs:,} scheduled" in _line(lines, "Lambda requests").arithmetic
    assert _line(lines, "Secrets Manager").arithmetic.startswith("3 secrets")
    alarms = len(deployed.resources("AWS::CloudWatch::Alarm"))
    assert _line(lines, "CloudWatch alarms + dashboard").arithmetic.startswith(f"{alarms} alarms")
    assert 5 < sum(line.usd for line in lines) < 40


def test_estimate_follows_volume_and_schedules(deployed: Any, customized: Any) -> None:
    base = sum(line.usd for line in estimate(deployed.raw))
    busier = sum(line.usd for line in estimate(deployed.raw, Volume(orders=15_000, stock_changes=90_000)))
    assert base < busier
    # The customized stack polls every 5 minutes instead of every minute.
    assert sum(line.usd for line in estimate(customized.raw)) < base


def test_every_call_counts_its_share_of_the_shared_budgets() -> None:
    # Back Market's requests by batches of REQUEST_BATCH, each SKU update alone, WholeCell's by twos.
    assert shared_budget_takes(100, 5, 10) == 100 // REQUEST_BATCH + 5 + 5
    assert shared_budget_takes(0, 0, 0) == 0


def test_a_measured_month_bills_each_connection_and_the_fan_out_of_each_schedule() -> None:
    month = Measured(
        connections=3,
        invocations={"order_import": 3 * MINUTES_PER_MONTH},
        billed_seconds={"order_import": 3 * MINUTES_PER_MONTH * 2.0},
        scheduled_runs=MINUTES_PER_MONTH,
        dynamodb_read_units=2e6,
        dynamodb_write_units=1e6,
        stored_gb=0.1,
        secret_reads=10_000,
    )
    lines = measured_estimate(month, fixed_lines())
    # Each minute: one run that fans out, then one invocation per connection.
    assert _line(lines, "Lambda requests").usd == pytest.approx(4 * MINUTES_PER_MONTH / 1e6 * 0.20)
    memory = next(spec.memory_mb for spec in FUNCTIONS if spec.name == "order_import")
    gb_seconds = 3 * MINUTES_PER_MONTH * 2.0 * memory / 1024 + MINUTES_PER_MONTH * 0.1 * 0.5
    assert _line(lines, "Lambda compute").usd == pytest.approx(gb_seconds * 0.0000166667)
    assert _line(lines, "DynamoDB requests (on demand)").usd == pytest.approx(1 * 0.625 + 2 * 0.125)
    assert _line(lines, "Secrets Manager").arithmetic.startswith("7 secrets")  # the admin's + 2 each
    # What does not grow with the size is the current stack's, as docs/deploy.md shows it.
    assert _line(lines, "CloudWatch alarms + dashboard").usd > 0
    assert _line(lines, "KMS (alarm topic key)").usd == 1.0


def test_the_reruns_are_billed_as_invocations_and_sqs_requests(deployed: Any) -> None:
    lines = estimate(deployed.raw)
    reruns = sum(MINUTES_PER_MONTH for spec in FUNCTIONS if spec.rerun_after_seconds is not None)
    assert reruns == 2 * MINUTES_PER_MONTH  # order_import and wholecell_watch, each slot of a month
    assert f"{reruns:,} reruns 30 s after a slot" in _line(lines, "Lambda requests").arithmetic
    sqs = _line(lines, "SQS (rerun queues)")
    requests = reruns * 3 + 2 * 5 * 3 * MINUTES_PER_MONTH  # send, receive, delete; Lambda's long polls
    assert sqs.arithmetic.startswith(f"{requests:,} requests")
    assert sqs.usd == pytest.approx(requests / 1e6 * 0.40)


def test_a_measured_month_bills_the_rerun_queues_requests() -> None:
    month = Measured(
        connections=2,
        invocations={"order_import": 4 * MINUTES_PER_MONTH},
        billed_seconds={"order_import": 4 * MINUTES_PER_MONTH * 1.5},
        scheduled_runs=MINUTES_PER_MONTH,
        dynamodb_read_units=1e6,
        dynamodb_write_units=1e6,
        stored_gb=0.1,
        secret_reads=10_000,
        rerun_messages=2 * MINUTES_PER_MONTH,
        rerun_queues=1,
    )
    sqs = _line(measured_estimate(month, fixed_lines()), "SQS (rerun queues)")
    assert sqs.usd == pytest.approx((2 * MINUTES_PER_MONTH * 3 + 15 * MINUTES_PER_MONTH) / 1e6 * 0.40)
