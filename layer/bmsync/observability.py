"""Logger, Metrics and Tracer, set up once; the metrics an operator watches; and the redaction every
log line goes through.

No token, ``Authorization`` header, password or buyer's personal data may reach a log line: the
formatter scrubs sensitive keys at any depth, credentials and e-mail addresses inside strings, and
every secret value that :mod:`bmsync.secrets` has handed out in this process.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from bmsync.store.sync_state import RunRecord

SERVICE = "bmsync"
METRICS_NAMESPACE = "bmsync"
REDACTED = "[REDACTED]"

_SENSITIVE_KEY_PARTS = (
    "authorization",
    "token",
    "password",
    "secret",
    "cookie",
    "api_key",
    "apikey",
    "credential",
    "csrf",
)
# Buyers' personal data as Back Market and WholeCell name it.
_PERSONAL_KEYS = {
    "first_name",
    "last_name",
    "first_name_pronunciation",
    "last_name_pronunciation",
    "email",
    "phone",
    "street",
    "street1",
    "street2",
    "postal_code",
    "zip",
    "customer_id_number",
    "shipping_address",
    "billing_address",
    "company",
    "city",
    # WholeCell's customer is the buyer when the organization type is "Shipping Name".
    "customer",
    "customer_name",
    "buyer",
}
_CREDENTIAL_IN_TEXT = re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]+", re.IGNORECASE)
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A sensitive field inside text (a JSON request body, a query string): `"password": "..."`, `token=...`.
_SENSITIVE_FIELD_IN_TEXT = re.compile(
    r"""(?P<key>["']?[\w-]*(?:authorization|token|password|secret|cookie|api_?key|credential|csrf)[\w-]*["']?"""
    r"""\s*[:=]\s*)(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,&;}\]]+)""",
    re.IGNORECASE,
)

_known_secrets: set[str] = set()
_known_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember a secret value so that it is scrubbed wherever it appears in a log line."""
    if value and len(value) >= 6:
        with _known_secrets_lock:
            _known_secrets.add(value)


def _is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _PERSONAL_KEYS or any(part in lowered for part in _SENSITIVE_KEY_PARTS)


def _redact_field_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('key')}{quote}{REDACTED}{quote}"


def redact_text(text: str) -> str:
    text = _CREDENTIAL_IN_TEXT.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
    text = _SENSITIVE_FIELD_IN_TEXT.sub(_redact_field_value, text)
    text = _EMAIL_IN_TEXT.sub("[email]", text)
    with _known_secrets_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` safe to log."""
    if isinstance(value, dict):
        return {
            key: (REDACTED if isinstance(key, str) and _is_sensitive_key(key) else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    # Anything else (an exception in Powertools' stack_trace, a Decimal, a datetime) is logged as its
    # text: scrub that text.
    return redact_text(str(value))


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        return super().serialize(redact(log))


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
#: CloudWatch embedded-metric-format lines on stdout (Lambda sends them to CloudWatch Metrics).
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
#: X-Ray segments of each invocation (off outside Lambda and with POWERTOOLS_TRACE_DISABLED).
tracer = Tracer(service=SERVICE)

#: The counts of a run an operator watches: ``(flow, count) -> metric``.
WATCHED_COUNTS = {
    ("order_import", "imported"): "OrdersImported",
    ("quantity_sync", "pushed"): "QuantitiesPushed",
    ("quantity_sync.drift_check", "pushed"): "QuantitiesPushed",
    ("shipment_export", "sent"): "ShipmentsExported",
}
#: Counts of items a run could not handle (each recorded on its item, most with an alert).
ERROR_COUNTS = ("failed", "errors", "rejected")


#: Upper bounds (seconds) of the latency buckets a run counts its crossings in: the per-minute
#: aggregates keep these counts, from which the status page computes p50/p95 over a day.
LATENCY_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600, 86400)


def latency_bucket(seconds: float) -> int:
    """The upper bound of the bucket ``seconds`` falls in (the last bucket takes anything longer)."""
    return next((bound for bound in LATENCY_BUCKETS if seconds <= bound), LATENCY_BUCKETS[-1])


@dataclass
class RunMeasures:
    """What a run measured on the way: per direction the slowest crossing (one value per run keeps a
    run that pushes hundreds of listings within EMF's 100 values per metric) and how many crossings
    fell in each latency bucket; Back Market's budgets left after its last push."""

    slowest: dict[str, float] = field(default_factory=dict)
    latency_counts: dict[str, dict[int, int]] = field(default_factory=dict)
    sku_updates_left: int | None = None
    requests_left: int | None = None


class _RunMeasures:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = RunMeasures()

    def take(self) -> RunMeasures:
        with self.lock:
            taken, self.current = self.current, RunMeasures()
        return taken


_measures = _RunMeasures()


def record_latency(direction: str, seconds: float) -> None:
    """How long a change took to cross from one system to the other (``direction`` e.g. "OrderImport")."""
    seconds = max(seconds, 0.0)
    with _measures.lock:
        current = _measures.current
        current.slowest[direction] = max(current.slowest.get(direction, 0.0), seconds)
        counts = current.latency_counts.setdefault(direction, {})
        bucket = latency_bucket(seconds)
        counts[bucket] = counts.get(bucket, 0) + 1


def record_backmarket_budget(sku_updates_remaining: int, requests_remaining: int | None = None) -> None:
    """What is left of Back Market's hourly SKU-update budget (and of its request window) after a
    run's pushes."""
    with _measures.lock:
        _measures.current.sku_updates_left = sku_updates_remaining
        if requests_remaining is not None:
            _measures.current.requests_left = requests_remaining


def take_run_measures() -> RunMeasures:
    """What the run that just finished measured (and a fresh start for the next one)."""
    return _measures.take()


def emit_run_metrics(function: str, connection_id: str, run: RunRecord, measures: RunMeasures) -> None:
    """Publish one run's metrics, and the slowest crossing and budget seen during it, for its
    connection: one EMF line, dimensioned by function and connection."""
    for (flow, count), metric in WATCHED_COUNTS.items():
        if run.flow == flow:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=run.counts.get(count, 0))
    metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=run_errors(run))
    for direction, seconds in sorted(measures.slowest.items()):
        metrics.add_metric(name=f"{direction}Latency", unit=MetricUnit.Seconds, value=seconds)
    if measures.sku_updates_left is not None:
        metrics.add_metric(
            name="BackMarketSkuUpdatesRemaining", unit=MetricUnit.Count, value=measures.sku_updates_left
        )
    if measures.requests_left is not None:
        metrics.add_metric(
            name="BackMarketRequestsRemaining", unit=MetricUnit.Count, value=measures.requests_left
        )
    metrics.add_dimension(name="function", value=function)
    metrics.add_dimension(name="connection", value=connection_id)
    metrics.flush_metrics()
    # Flushing publishes and clears, except where metrics are disabled (tests, the local sandbox).
    metrics.clear_metrics()


def run_errors(run: RunRecord) -> int:
    """The items a run could not handle, plus one when the run itself failed."""
    return sum(run.counts.get(name, 0) for name in ERROR_COUNTS) + int(run.status == "failed")
