"""The events bmsync's functions receive, as pydantic models (the boundary is validated)."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json


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
    #: The second run of a slot (``bmsync.rerun``), delivered by the function's rerun queue: it never
    #: asks for another.
    rerun: bool = False


class RerunRecord(SqsRecordModel):
    """One message of a function's rerun queue: the scheduled event, as JSON, in its body."""

    body: Json[ScheduledEvent]
