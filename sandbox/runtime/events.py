"""What the runtime reports as it works: one event per invocation, dead letter or skipped function."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bmsync.observability import redact


@dataclass(frozen=True)
class RuntimeEvent:
    at: datetime
    function: str
    trigger: str  # "schedule", "stream:<table>", "url", "runtime"
    connection: str  # the connection(s) concerned, "*" for all, "-" when none
    outcome: str  # "ok", "error", "partial", "retry", "dead-letter", "skipped"...
    detail: str = ""


EventSink = Callable[[RuntimeEvent], None]


def ignore_events(event: RuntimeEvent) -> None:
    """The sink of a runtime nobody watches."""


def summarize(value: Any, limit: int = 120) -> str:
    """A short, redacted, one-line rendering of a handler's result or error for the event log."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(redact(value), default=str, sort_keys=True)
    text = " ".join(str(redact(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
