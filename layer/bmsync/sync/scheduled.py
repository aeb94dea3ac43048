"""Which connections a scheduled invocation runs for (all of them unless the event names one)."""

from __future__ import annotations

from typing import Any

from bmsync.events import ScheduledEvent
from bmsync.observability import logger
from bmsync.settings import Settings
from bmsync.store.settings_repo import SettingsRepository


def connections_for(event: ScheduledEvent, settings_repo: SettingsRepository | None = None) -> list[Settings]:
    repo = settings_repo or SettingsRepository()
    if event.connection_id is None:
        return repo.list()
    settings = repo.get(event.connection_id)
    if settings is None:
        logger.warning(
            "scheduled run for an unknown connection", extra={"connection_id": event.connection_id}
        )
        return []
    return [settings]


def run_summary(runs: dict[str, Any]) -> dict[str, Any]:
    """What a scheduled handler returns: each connection's run record."""
    return {"runs": {connection_id: run.model_dump(mode="json") for connection_id, run in runs.items()}}
