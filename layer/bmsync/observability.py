"""Logger, Metrics and Tracer, set up once; and the redaction every log line goes through.

No token, ``Authorization`` header, password or buyer's personal data may reach a log line: the
formatter scrubs sensitive keys at any depth, credentials and e-mail addresses inside strings, and
every secret value that :mod:`bmsync.secrets` has handed out in this process.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "bmsync"
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
metrics = Metrics(namespace="bmsync", service=SERVICE)
tracer = Tracer(service=SERVICE)
