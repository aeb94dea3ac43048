"""The events bmsync's functions receive, as pydantic models (the boundary is validated)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ScheduledEvent(BaseModel):
    """What EventBridge Scheduler sends (the target's input, with ``<aws.scheduler.scheduled-time>``).

    ``connection_id`` is optional: without it a scheduled function runs for every connection.
    ``task`` picks a sub-task where a function has several (e.g. quantity_sync's ``drift_check``).
    """

    model_config = ConfigDict(extra="ignore")

    source: str = "bmsync.schedule"
    function: str
    scheduled_time: datetime
    connection_id: str | None = None
    task: str | None = None
    options: dict[str, object] = Field(default_factory=dict)
