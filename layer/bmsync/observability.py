"""Logger, Metrics and Tracer, set up once; the metrics an operator watches; and the redaction every
log line goes through.

No token, ``Authorization`` header, password or buyer's personal data may reach a log line: the
formatter scrubs sensitive keys at any depth, credentials and e-mail addresses inside strings, and
every secret value that :mod:`bmsync.secrets` has handed out in this process.
"""

from __future__ import annotations

import re
import threading
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


class _RunMeasures:
    """What a run measures on the way, published with its metrics: the slowest crossing of each
    direction (one value per run keeps a run that pushes hundreds of listings within EMF's 100
    values per metric) and the Back Market budget left."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slowest: dict[str, float] = {}
        self.budget_left: int | None = None

    def take(self) -> tuple[dict[str, float], int | None]:
        with self.lock:
            taken = (dict(self.slowest), self.budget_left)
            self.slowest.clear()
            self.budget_left = None
        return taken


_measures = _RunMeasures()


def record_latency(direction: str, seconds: float) -> None:
    """How long a change took to cross from one system to the other (``direction`` e.g. "OrderImport")."""
    with _measures.lock:
        _measures.slowest[direction] = max(_measures.slowest.get(direction, 0.0), seconds, 0.0)


def record_backmarket_budget(sku_updates_remaining: int) -> None:
    """What is left of Back Market's hourly SKU-update budget after a run's pushes."""
    with _measures.lock:
        _measures.budget_left = sku_updates_remaining


def emit_run_metrics(function: str, connection_id: str, run: RunRecord) -> None:
    """Publish one run's metrics, and the slowest crossing and budget seen during it, for its
    connection: one EMF line, dimensioned by function and connection."""
    for (flow, count), metric in WATCHED_COUNTS.items():
        if run.flow == flow:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=run.counts.get(count, 0))
    errors = sum(run.counts.get(name, 0) for name in ERROR_COUNTS) + int(run.status == "failed")
    metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=errors)
    slowest, budget_left = _measures.take()
    for direction, seconds in sorted(slowest.items()):
        metrics.add_metric(name=f"{direction}Latency", unit=MetricUnit.Seconds, value=seconds)
    if budget_left is not None:
        metrics.add_metric(name="BackMarketSkuUpdatesRemaining", unit=MetricUnit.Count, value=budget_left)
    metrics.add_dimension(name="function", value=function)
    metrics.add_dimension(name="connection", value=connection_id)
    metrics.flush_metrics()
    # Flushing publishes and clears, except where metrics are disabled (tests, the local sandbox).
    metrics.clear_metrics()
