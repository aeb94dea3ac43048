"""What a seller can choose at deploy time, read from CDK context (``cdk.json`` or ``-c key=value``).

Every option has a default that suits one seller with one connection; ``docs/deploy.md`` lists them.
Values given on the command line arrive as strings, so lists and mappings also accept text
(``connections=eu,us``, ``schedules={"listing_import": 120}``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aws_cdk import aws_logs as logs
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bmsync.catalog import FUNCTIONS
from bmsync.settings import CONNECTION_ID_PATTERN

REPO = Path(__file__).resolve().parents[1]

_DAYS = logs.RetentionDays
#: The retention periods CloudWatch Logs accepts, by their number of days.
LOG_RETENTION: dict[int, logs.RetentionDays] = {
    1: _DAYS.ONE_DAY,
    3: _DAYS.THREE_DAYS,
    5: _DAYS.FIVE_DAYS,
    7: _DAYS.ONE_WEEK,
    14: _DAYS.TWO_WEEKS,
    30: _DAYS.ONE_MONTH,
    60: _DAYS.TWO_MONTHS,
    90: _DAYS.THREE_MONTHS,
    120: _DAYS.FOUR_MONTHS,
    150: _DAYS.FIVE_MONTHS,
    180: _DAYS.SIX_MONTHS,
    365: _DAYS.ONE_YEAR,
    400: _DAYS.THIRTEEN_MONTHS,
    545: _DAYS.EIGHTEEN_MONTHS,
    731: _DAYS.TWO_YEARS,
    1096: _DAYS.THREE_YEARS,
    1827: _DAYS.FIVE_YEARS,
    3653: _DAYS.TEN_YEARS,
}

CONTEXT_KEYS = (
    "connections",
    "schedules",
    "backmarket_reserved_concurrency",
    "admin_reserved_concurrency",
    "alarm_email",
    "log_retention_days",
    "log_level",
    "layer_dir",
    "stack_name",
)


def resolve_layer_dir(layer_dir: str | Path) -> Path:
    """cdk.json names the layer relative to the repository, wherever the command runs."""
    path = Path(layer_dir)
    return path if path.is_absolute() else REPO / path


def schedule_key(function: str, task: str | None) -> str:
    """How a schedule is named in the ``schedules`` option: ``order_import`` or ``order_import:catch_up``."""
    return f"{function}:{task}" if task else function


SCHEDULE_KEYS = tuple(schedule_key(spec.name, task) for spec in FUNCTIONS for task, _ in spec.schedules)


class DeployConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The connection ids to create secrets for (more can be added later in the admin).
    connections: tuple[str, ...] = ("default",)
    #: Minutes between runs, per schedule (``SCHEDULE_KEYS``); 0 creates the schedule disabled.
    schedules: dict[str, int] = Field(default_factory=dict)
    #: Reserved concurrency of each function that calls Back Market, which keeps bmsync inside Back
    #: Market's rate limits and leaves the account's other functions room; 0 turns it off.
    backmarket_reserved_concurrency: int = Field(default=2, ge=0, le=100)
    #: Reserved concurrency of the admin, a cap: its URL is public, and a flood of sign-ins must not
    #: take the concurrency the sync functions share (nor run up the bill); 0 leaves it uncapped.
    admin_reserved_concurrency: int = Field(default=5, ge=0, le=100)
    #: Who receives the alarms by e-mail (SNS asks them to confirm); none: subscribe to the topic later.
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    log_retention_days: int = 30
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    #: The layer built by ``make layer`` (site-packages under ``python/``).
    layer_dir: Path = REPO / "build" / "layer"
    stack_name: str = Field(default="bmsync", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")

    @field_validator("connections", mode="before")
    @classmethod
    def _connections_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("connections")
    @classmethod
    def _valid_connection_ids(cls, connections: tuple[str, ...]) -> tuple[str, ...]:
        if not connections:
            raise ValueError("name at least one connection")
        for connection in connections:
            if not re.match(CONNECTION_ID_PATTERN, connection):
                raise ValueError(
                    f"connection id {connection!r}: lower-case letters, digits and '-', at most 40 characters"
                )
        if len(set(connections)) != len(connections):
            raise ValueError("connection ids must be unique")
        return connections

    @field_validator("schedules", mode="before")
    @classmethod
    def _schedules_from_text(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("schedules")
    @classmethod
    def _known_schedules(cls, schedules: dict[str, int]) -> dict[str, int]:
        for key, minutes in schedules.items():
            if key not in SCHEDULE_KEYS:
                raise ValueError(f"schedules.{key}: unknown schedule; known: {', '.join(SCHEDULE_KEYS)}")
            if not 0 <= minutes <= 7 * 24 * 60:
                raise ValueError(f"schedules.{key}: minutes between 0 (disabled) and 10080")
        return schedules

    @field_validator("log_retention_days")
    @classmethod
    def _retention_cloudwatch_accepts(cls, days: int) -> int:
        if days not in LOG_RETENTION:
            raise ValueError(f"log_retention_days: one of {', '.join(map(str, LOG_RETENTION))}")
        return days

    @field_validator("layer_dir")
    @classmethod
    def _layer_dir_from_repo(cls, layer_dir: Path) -> Path:
        return resolve_layer_dir(layer_dir)

    @model_validator(mode="after")
    def _layer_is_built(self) -> DeployConfig:
        if not (self.layer_dir / "python").is_dir():
            raise ValueError(f"layer_dir: {self.layer_dir}/python does not exist; run `make layer` first")
        return self

    def minutes(self, function: str, task: str | None, default: int) -> int:
        return self.schedules.get(schedule_key(function, task), default)

    @classmethod
    def from_context(cls, read: Any) -> DeployConfig:
        """Build from a context reader (``node.try_get_context``); absent keys keep their defaults."""
        values = {key: read(key) for key in CONTEXT_KEYS}
        return cls.model_validate({key: value for key, value in values.items() if value is not None})
