"""EventBridge Scheduler: one schedule per catalogue schedule, its payload, retries and dead letters."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bmsync.catalog import FUNCTIONS
from bmsync.events import ScheduledEvent
from infra.config import schedule_key

_UNIT_MINUTES = {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}


def _rate_minutes(expression: str) -> int:
    """``rate(2 hours)`` -> 120."""
    match = re.fullmatch(r"rate\((\d+) (\w+)\)", expression)
    assert match, expression
    return int(match.group(1)) * _UNIT_MINUTES[match.group(2)]


SCHEDULES = [(spec.name, task, minutes) for spec in FUNCTIONS for task, minutes in spec.schedules]


def _schedules_by_payload(deployed: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for resource in deployed.resources("AWS::Scheduler::Schedule").values():
        properties = resource["Properties"]
        payload = json.loads(properties["Target"]["Input"])
        found[schedule_key(payload["function"], payload.get("task"))] = properties
    return found


def test_one_schedule_per_catalogue_schedule(deployed: Any) -> None:
    assert sorted(_schedules_by_payload(deployed)) == sorted(schedule_key(n, t) for n, t, _ in SCHEDULES)
    assert {"order_import:catch_up", "quantity_sync:drift_check", "order_import"} <= set(
        _schedules_by_payload(deployed)
    )


@pytest.mark.parametrize(("function", "task", "minutes"), SCHEDULES)
def test_schedule_target_payload_retries_and_dead_letters(
    deployed: Any, function: str, task: str | None, minutes: int
) -> None:
    properties = _schedules_by_payload(deployed)[schedule_key(function, task)]
    assert properties["State"] == "ENABLED"
    assert _rate_minutes(properties["ScheduleExpression"]) == minutes
    target = properties["Target"]
    function_id = deployed.logical_id(deployed.stack.functions.by_name[function])
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    # Low retries: the next scheduled run repeats the work anyway.
    assert 0 <= target["RetryPolicy"]["MaximumRetryAttempts"] <= 3
    assert 60 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= max(60, minutes * 60)
    queue_id = deployed.logical_id(deployed.stack.schedules.dead_letters)
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}

    payload = json.loads(target["Input"])
    assert payload["scheduled_time"] == "<aws.scheduler.scheduled-time>"
    assert "connection_id" not in payload  # no connection: the function runs for every one
    # What Scheduler sends once it fills in the time is what the handlers parse.
    sent = ScheduledEvent.model_validate({**payload, "scheduled_time": "2026-11-27T03:00:00Z"})
    assert (sent.source, sent.function, sent.task) == ("bmsync.schedule", function, task)


def test_scheduled_functions_are_not_retried_by_lambda_and_keep_failures(deployed: Any) -> None:
    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in deployed.resources("AWS::Lambda::EventInvokeConfig").values()
    }
    for spec in FUNCTIONS:
        function_id = deployed.logical_id(deployed.stack.functions.by_name[spec.name])
        if not spec.schedules:
            assert function_id not in configs
            continue
        config = configs[function_id]
        assert config["MaximumRetryAttempts"] == 0
        queue_id = deployed.logical_id(deployed.stack.functions.failure_queues[spec.name])
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_schedules_follow_the_context(customized: Any) -> None:
    schedules = _schedules_by_payload(customized)
    assert _rate_minutes(schedules["listing_import"]["ScheduleExpression"]) == 120
    assert _rate_minutes(schedules["order_import"]["ScheduleExpression"]) == 5
    assert schedules["order_import:catch_up"]["State"] == "DISABLED"
    assert schedules["order_import"]["State"] == "ENABLED"
    assert schedules["quantity_sync:drift_check"]["State"] == "ENABLED"
