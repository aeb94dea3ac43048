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
    trigger: str  # "schedule", "rerun", "stream:<table>", "url", "runtime"
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
    if isinstance(value, dict) and isinstance(value.get("runs"), dict):
        value = _runs_in_words(value["runs"])
    text = value if isinstance(value, str) else json.dumps(redact(value), default=str, sort_keys=True)
    text = " ".join(str(redact(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _runs_in_words(runs: dict[str, Any]) -> str:
    """A scheduled function's run records as "demo: imported 5, read 7" (non-zero counts only)."""
    parts = []
    for connection_id, run in runs.items():
        if not isinstance(run, dict):
            parts.append(f"{connection_id}: {run}")
            continue
        counts = ", ".join(
            f"{name.replace('_', ' ')} {count}" for name, count in (run.get("counts") or {}).items() if count
        )
        status = run.get("status", "")
        words = counts or ("nothing to do" if status == "succeeded" else status)
        if run.get("error"):
            words = f"{status}: {run['error']}" + (f" ({counts})" if counts else "")
        parts.append(f"{connection_id}: {words}")
    return "; ".join(parts)
