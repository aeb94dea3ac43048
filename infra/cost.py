"""What bmsync costs a month, computed from the synthesized template and a stated seller's volume.

``python -m infra.cost`` (after ``make synth``) prints the table that ``docs/deploy.md`` shows;
``--write-docs`` updates it there. Prices
are AWS's public on-demand list prices (us-east-1 / eu-west-1, x86, USD) without the free tier; the
free tier is shown separately because most of it applies for good.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmsync.catalog import FUNCTIONS
from bmsync.environment import RERUN_QUEUE_VARIABLE
from infra.config import REPO

MINUTES_PER_MONTH = 30 * 24 * 60

# Public list prices, USD.
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_PER_GB_SECOND = 0.0000166667
SCHEDULER_PER_MILLION = 1.00
DYNAMODB_PER_MILLION_WRITES = 0.625
DYNAMODB_PER_MILLION_READS = 0.125
DYNAMODB_STORAGE_PER_GB = 0.25
DYNAMODB_PITR_PER_GB = 0.20
SECRET_PER_MONTH = 0.40
SECRETS_PER_10K_CALLS = 0.05
ALARM_PER_MONTH = 0.10
DASHBOARD_PER_MONTH = 3.00
CUSTOM_METRIC_PER_MONTH = 0.30
LOGS_PER_GB_INGESTED = 0.50
XRAY_PER_MILLION_TRACES = 5.00
KMS_KEY_PER_MONTH = 1.00
SQS_PER_MILLION_REQUESTS = 0.40
#: What one rerun costs in SQS requests: its delayed SendMessage, and Lambda's receive and delete.
SQS_REQUESTS_PER_RERUN = 3
#: Lambda long-polls each SQS event source all the time, messages or not: up to 5 pollers, each a
#: 20-second ReceiveMessage (3 a minute), billed like any request.
SQS_IDLE_RECEIVES_PER_QUEUE = 5 * 3 * MINUTES_PER_MONTH


@dataclass(frozen=True)
class Volume:
    """A typical seller: one connection, ~50 orders a day, ~2,000 listings."""

    orders: int = 1_500  # Back Market orders a month
    stock_changes: int = 9_000  # stock items whose calculated quantity changes, a month
    listing_changes: int = 3_000  # listing items changed by the hourly import or the admin
    admin_requests: int = 2_000
    #: Average run time (s) of one invocation: polls are a few HTTP round trips.
    seconds: tuple[tuple[str, float], ...] = (
        ("order_import", 1.5),
        ("order_import:catch_up", 30.0),
        ("wholecell_watch", 2.0),
        ("listing_import", 20.0),
        ("quantity_sync:drift_check", 10.0),
        ("quantity_sync", 0.5),
        ("shipment_export", 1.0),
        ("shipment_export:send_due_retries", 0.5),  # one query of the due retries, most minutes none
        ("admin", 0.3),
    )
    #: DynamoDB requests per scheduled run (lock, run record, cursor, settings) and per record/request.
    writes_per_run: int = 4
    reads_per_run: int = 6
    writes_per_order: int = 8 * 3  # ~8 writes of a ~3 KB item
    reads_per_stream_record: int = 10
    reads_per_admin_request: int = 50
    stored_gb: float = 0.5
    log_kb_per_invocation: float = 2.0
    custom_metrics: int = 10  # Powertools metrics, by name and dimension
    secret_reads: int = 36_000  # cached 5 minutes per warm function
    #: Requests to each API a month (the minute polls: a few to Back Market, a few more to WholeCell)
    #: and Back Market listing writes: each takes from a budget stored in DynamoDB
    #: (``bmsync.shared_budget``), a read and a conditional write per take of a batch.
    backmarket_requests: int = 90_000
    sku_updates: int = 9_000
    wholecell_requests: int = 220_000


@dataclass(frozen=True)
class Line:
    service: str
    arithmetic: str
    usd: float


def _price(usd: float) -> str:
    return "$" + f"{usd:.10f}".rstrip("0").rstrip(".")


def _rate_minutes(expression: str) -> int:
    number, unit = re.fullmatch(r"rate\((\d+) (\w+?)s?\)", expression).groups()  # type: ignore[union-attr]
    return int(number) * {"minute": 1, "hour": 60, "day": 1440}[unit]


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in template["Resources"].values() if r["Type"] == kind]


def estimate(template: dict[str, Any], volume: Volume = Volume()) -> list[Line]:
    seconds = dict(volume.seconds)
    functions = {
        f["Environment"]["Variables"]["BMSYNC_FUNCTION"]: f["MemorySize"]
        for f in _resources(template, "AWS::Lambda::Function")
    }
    runs: dict[str, int] = {}
    for schedule in _resources(template, "AWS::Scheduler::Schedule"):
        if schedule["State"] == "ENABLED":
            payload = json.loads(schedule["Target"]["Input"])
            key = payload["function"] + (f":{payload['task']}" if payload.get("task") else "")
            runs[key] = MINUTES_PER_MONTH // _rate_minutes(schedule["ScheduleExpression"])
    scheduled_runs = sum(runs.values())
    # A function with a rerun queue runs again half a minute after each slot of its main schedule.
    reruns = {
        f"{name}:rerun": runs[name]
        for name in (
            f["Environment"]["Variables"]["BMSYNC_FUNCTION"]
            for f in _resources(template, "AWS::Lambda::Function")
            if RERUN_QUEUE_VARIABLE in f["Environment"]["Variables"]
        )
        if name in runs
    }
    rerun_count = sum(reruns.values())
    rerun_queues = len(reruns)
    sqs_requests = rerun_count * SQS_REQUESTS_PER_RERUN + rerun_queues * SQS_IDLE_RECEIVES_PER_QUEUE
    polls = scheduled_runs + rerun_count  # runs that each take their lock, record, cursor, settings
    stream_records = volume.stock_changes + volume.listing_changes
    invocations = {
        **runs,
        **reruns,
        "quantity_sync": stream_records,
        "shipment_export": 2 * volume.orders,  # the shipment, then a retry or the validation it waited for
        "admin": volume.admin_requests,
    }
    total_invocations = sum(invocations.values())
    gb_seconds = sum(
        count * seconds[key.removesuffix(":rerun")] * functions[key.split(":")[0]] / 1024
        for key, count in invocations.items()
    )
    budget_takes = shared_budget_takes(
        volume.backmarket_requests, volume.sku_updates, volume.wholecell_requests
    )
    writes = (
        polls * volume.writes_per_run
        + volume.orders * volume.writes_per_order
        + stream_records * 2  # last synced state, idempotency record
        + volume.stock_changes
        + budget_takes
    )
    reads = (
        polls * volume.reads_per_run
        + stream_records * volume.reads_per_stream_record
        + volume.admin_requests * volume.reads_per_admin_request
        + budget_takes
    )
    secrets = len(_resources(template, "AWS::SecretsManager::Secret"))
    alarms = len(_resources(template, "AWS::CloudWatch::Alarm"))
    dashboards = len(_resources(template, "AWS::CloudWatch::Dashboard"))
    metric_filters = {
        m["MetricTransformations"][0]["MetricName"] for m in _resources(template, "AWS::Logs::MetricFilter")
    }
    metrics = volume.custom_metrics + len(metric_filters)
    keys = len(_resources(template, "AWS::KMS::Key"))
    log_gb = total_invocations * volume.log_kb_per_invocation / 1024 / 1024
    run_list = " + ".join(f"{count:,} {key}" for key, count in sorted(runs.items()))
    rerun_list = " + ".join(
        f"{count:,} {key.removesuffix(':rerun')}" for key, count in sorted(reruns.items())
    )
    return [
        Line(
            "Lambda requests",
            f"{total_invocations:,} invocations ({scheduled_runs:,} scheduled: {run_list}; "
            f"{rerun_count:,} reruns 30 s after a slot: {rerun_list}; "
            f"{stream_records:,} stream records to quantity_sync; {2 * volume.orders:,} shipment_export; "
            f"{volume.admin_requests:,} admin) x {_price(LAMBDA_PER_MILLION_REQUESTS)}/M",
            total_invocations / 1e6 * LAMBDA_PER_MILLION_REQUESTS,
        ),
        Line(
            "Lambda compute",
            f"{gb_seconds:,.0f} GB-s (invocations x average seconds x memory) x "
            f"{_price(LAMBDA_PER_GB_SECOND)}",
            gb_seconds * LAMBDA_PER_GB_SECOND,
        ),
        Line(
            "EventBridge Scheduler",
            f"{scheduled_runs:,} invocations x {_price(SCHEDULER_PER_MILLION)}/M",
            scheduled_runs / 1e6 * SCHEDULER_PER_MILLION,
        ),
        Line(
            "SQS (rerun queues)",
            f"{sqs_requests:,} requests ({rerun_count:,} reruns x {SQS_REQUESTS_PER_RERUN}: send, receive, "
            f"delete; + {rerun_queues} queues x {SQS_IDLE_RECEIVES_PER_QUEUE:,} long polls by Lambda) x "
            f"{_price(SQS_PER_MILLION_REQUESTS)}/M",
            sqs_requests / 1e6 * SQS_PER_MILLION_REQUESTS,
        ),
        Line(
            "DynamoDB requests (on demand)",
            f"{writes:,} writes x {_price(DYNAMODB_PER_MILLION_WRITES)}/M + {reads:,} reads x "
            f"{_price(DYNAMODB_PER_MILLION_READS)}/M (of them {budget_takes:,} each: the shared rate "
            f"budgets' takes; stream reads by Lambda are free)",
            writes / 1e6 * DYNAMODB_PER_MILLION_WRITES + reads / 1e6 * DYNAMODB_PER_MILLION_READS,
        ),
        Line(
            "DynamoDB storage + PITR",
            f"{volume.stored_gb} GB x ({_price(DYNAMODB_STORAGE_PER_GB)} + {_price(DYNAMODB_PITR_PER_GB)})",
            volume.stored_gb * (DYNAMODB_STORAGE_PER_GB + DYNAMODB_PITR_PER_GB),
        ),
        Line(
            "Secrets Manager",
            f"{secrets} secrets x {_price(SECRET_PER_MONTH)} + {volume.secret_reads:,} reads x "
            f"{_price(SECRETS_PER_10K_CALLS)}/10k",
            secrets * SECRET_PER_MONTH + volume.secret_reads / 10_000 * SECRETS_PER_10K_CALLS,
        ),
        Line(
            "CloudWatch alarms + dashboard",
            f"{alarms} alarms x {_price(ALARM_PER_MONTH)} + "
            f"{dashboards} dashboard x {_price(DASHBOARD_PER_MONTH)}",
            alarms * ALARM_PER_MONTH + dashboards * DASHBOARD_PER_MONTH,
        ),
        Line(
            "CloudWatch metrics + logs",
            f"{metrics} custom metrics x {_price(CUSTOM_METRIC_PER_MONTH)} + {log_gb:.2f} GB logs "
            f"({volume.log_kb_per_invocation:g} KB/invocation) x {_price(LOGS_PER_GB_INGESTED)}",
            metrics * CUSTOM_METRIC_PER_MONTH + log_gb * LOGS_PER_GB_INGESTED,
        ),
        Line(
            "X-Ray",
            f"{total_invocations:,} traces (each scheduled run is sampled) x "
            f"{_price(XRAY_PER_MILLION_TRACES)}/M",
            total_invocations / 1e6 * XRAY_PER_MILLION_TRACES,
        ),
        Line("KMS (alarm topic key)", f"{keys} key x {_price(KMS_KEY_PER_MONTH)}", keys * KMS_KEY_PER_MONTH),
    ]


def shared_budget_takes(backmarket_requests: float, sku_updates: float, wholecell_requests: float) -> int:
    """Takes from the budgets stored in DynamoDB for that many calls, each a read and a conditional
    write at most: Back Market's request window by batches, its SKU budget one update at a time,
    WholeCell's requests a second by batches of its rate (the 2 a second of a default connection)."""
    from bmsync.backmarket.limiter import REQUEST_BATCH

    return math.ceil(backmarket_requests / REQUEST_BATCH + sku_updates + wholecell_requests / 2)


@dataclass(frozen=True)
class Measured:
    """A month of bmsync at a measured size (``bench.scale``): counts already scaled to 30 days."""

    connections: int
    #: Per function: invocations (each connection's runs, stream batches, duplicates) and the
    #: seconds they bill.
    invocations: dict[str, float]
    billed_seconds: dict[str, float]
    #: Deliveries of the catalogue's schedules; with more than one connection each runs once to fan
    #: out (one more invocation per delivery, a settings query and no work of its own).
    scheduled_runs: float
    dynamodb_read_units: float
    dynamodb_write_units: float
    stored_gb: float
    secret_reads: float
    log_kb_per_invocation: float = 2.0
    custom_metrics_per_connection: int = 10
    fan_out_seconds: float = 0.1
    #: Messages on the rerun queues (one per connection and slot of a rerunning function; their
    #: invocations are in ``invocations``), and how many queues Lambda long-polls.
    rerun_messages: float = 0.0
    rerun_queues: int = 0


def measured_estimate(measured: Measured, fixed: list[Line]) -> list[Line]:
    """The month's cost from measured counts; ``fixed``: the lines that do not grow with the size
    (alarms, dashboard, key: :func:`fixed_lines` of the current stack)."""
    memory = {spec.name: spec.memory_mb for spec in FUNCTIONS}
    dispatches = measured.scheduled_runs if measured.connections > 1 else 0
    invocations = sum(measured.invocations.values()) + dispatches
    gb_seconds = (
        sum(seconds * memory[name] / 1024 for name, seconds in measured.billed_seconds.items())
        + dispatches * measured.fan_out_seconds * 512 / 1024
    )
    per_function = ", ".join(
        f"{name} {count:,.0f}" for name, count in sorted(measured.invocations.items()) if count
    )
    seconds = ", ".join(
        f"{name} {value:,.0f} s x {memory[name]} MB"
        for name, value in sorted(measured.billed_seconds.items())
        if value
    )
    secrets = 1 + 2 * measured.connections
    sqs_requests = (
        measured.rerun_messages * SQS_REQUESTS_PER_RERUN + measured.rerun_queues * SQS_IDLE_RECEIVES_PER_QUEUE
    )
    metrics = measured.custom_metrics_per_connection * measured.connections
    log_gb = invocations * measured.log_kb_per_invocation / 1024 / 1024
    return [
        Line(
            "Lambda requests",
            f"{invocations:,.0f} invocations ({per_function}; {dispatches:,.0f} fan-outs of the "
            f"scheduled runs) x {_price(LAMBDA_PER_MILLION_REQUESTS)}/M",
            invocations / 1e6 * LAMBDA_PER_MILLION_REQUESTS,
        ),
        Line(
            "Lambda compute",
            f"{gb_seconds:,.0f} GB-s ({seconds}; fan-outs {dispatches:,.0f} x "
            f"{measured.fan_out_seconds:g} s x 512 MB) x {_price(LAMBDA_PER_GB_SECOND)}",
            gb_seconds * LAMBDA_PER_GB_SECOND,
        ),
        Line(
            "EventBridge Scheduler",
            f"{measured.scheduled_runs:,.0f} invocations x {_price(SCHEDULER_PER_MILLION)}/M",
            measured.scheduled_runs / 1e6 * SCHEDULER_PER_MILLION,
        ),
        Line(
            "SQS (rerun queues)",
            f"{sqs_requests:,.0f} requests ({measured.rerun_messages:,.0f} reruns x "
            f"{SQS_REQUESTS_PER_RERUN}: send, receive, delete; + {measured.rerun_queues} queues x "
            f"{SQS_IDLE_RECEIVES_PER_QUEUE:,} long polls by Lambda) x {_price(SQS_PER_MILLION_REQUESTS)}/M",
            sqs_requests / 1e6 * SQS_PER_MILLION_REQUESTS,
        ),
        Line(
            "DynamoDB requests (on demand)",
            f"{measured.dynamodb_write_units:,.0f} write units x {_price(DYNAMODB_PER_MILLION_WRITES)}/M + "
            f"{measured.dynamodb_read_units:,.0f} read units x {_price(DYNAMODB_PER_MILLION_READS)}/M "
            "(shared budgets included; stream reads by Lambda are free)",
            measured.dynamodb_write_units / 1e6 * DYNAMODB_PER_MILLION_WRITES
            + measured.dynamodb_read_units / 1e6 * DYNAMODB_PER_MILLION_READS,
        ),
        Line(
            "DynamoDB storage + PITR",
            f"{measured.stored_gb:.4f} GB x ({_price(DYNAMODB_STORAGE_PER_GB)} + "
            f"{_price(DYNAMODB_PITR_PER_GB)})",
            measured.stored_gb * (DYNAMODB_STORAGE_PER_GB + DYNAMODB_PITR_PER_GB),
        ),
        Line(
            "Secrets Manager",
            f"{secrets} secrets x {_price(SECRET_PER_MONTH)} + {measured.secret_reads:,.0f} reads x "
            f"{_price(SECRETS_PER_10K_CALLS)}/10k",
            secrets * SECRET_PER_MONTH + measured.secret_reads / 10_000 * SECRETS_PER_10K_CALLS,
        ),
        Line(
            "CloudWatch metrics + logs",
            f"{metrics} custom metrics ({measured.custom_metrics_per_connection} per connection) x "
            f"{_price(CUSTOM_METRIC_PER_MONTH)} + {log_gb:.2f} GB logs ({measured.log_kb_per_invocation:g} "
            f"KB/invocation) x {_price(LOGS_PER_GB_INGESTED)}",
            metrics * CUSTOM_METRIC_PER_MONTH + log_gb * LOGS_PER_GB_INGESTED,
        ),
        Line(
            "X-Ray",
            f"{invocations:,.0f} traces x {_price(XRAY_PER_MILLION_TRACES)}/M",
            invocations / 1e6 * XRAY_PER_MILLION_TRACES,
        ),
        *fixed,
    ]


FIXED_SERVICES = ("CloudWatch alarms + dashboard", "KMS (alarm topic key)")


def fixed_lines(doc: str | None = None) -> list[Line]:
    """The lines of docs/deploy.md's table (the current stack's, kept so by the tests) that do not
    grow with the seller's size."""
    text = doc if doc is not None else DOC.read_text()
    lines = []
    for service in FIXED_SERVICES:
        match = re.search(rf"^\| {re.escape(service)} \| (.*?) \| ([0-9.]+) \|$", text, re.M)
        if match is None:
            raise ValueError(f"docs/deploy.md has no {service!r} line")
        lines.append(Line(service, match.group(1), float(match.group(2))))
    return lines


def markdown(lines: list[Line]) -> str:
    rows = ["| service | arithmetic | USD / month |", "|---|---|---:|"]
    rows += [f"| {line.service} | {line.arithmetic} | {line.usd:.2f} |" for line in lines]
    rows.append(f"| **total** | without the free tier | **{sum(line.usd for line in lines):.2f}** |")
    return "\n".join(rows)


DOC = REPO / "docs" / "deploy.md"
DOC_TABLE = re.compile(r"(<!-- cost-table:.*?-->\n)(.*?)(\n<!-- /cost-table -->)", re.S)


def main(argv: list[str]) -> int:
    """Print the table for ``cdk.out``'s template (or the one named); ``--write-docs`` puts it in the doc."""
    write_docs = "--write-docs" in argv
    paths = [arg for arg in argv[1:] if arg != "--write-docs"]
    path = Path(paths[0]) if paths else REPO / "cdk.out" / "bmsync.template.json"
    table = markdown(estimate(json.loads(path.read_text())))
    if write_docs:
        DOC.write_text(DOC_TABLE.sub(lambda match: match.group(1) + table + match.group(3), DOC.read_text()))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
