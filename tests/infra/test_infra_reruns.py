"""The two polls that run twice a minute get a rerun queue each: their scheduled runs send to it with a
delay, it invokes them (batch size 1), and a failed rerun goes to the failure queue, never again."""

from __future__ import annotations

from typing import Any

from bmsync.catalog import FUNCTIONS
from bmsync.environment import RERUN_QUEUE_VARIABLE

RERUNNING = [spec for spec in FUNCTIONS if spec.rerun_after_seconds is not None]


def _arn(deployed: Any, construct: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [deployed.logical_id(construct), "Arn"]}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_statements(deployed: Any, function: str) -> list[dict[str, Any]]:
    role_id = deployed.logical_id(deployed.stack.functions.by_name[function].role)
    return [
        statement
        for resource in deployed.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_only_the_catalogues_rerunning_functions_have_a_rerun_queue(deployed: Any) -> None:
    functions = deployed.stack.functions
    assert (
        sorted(functions.rerun_queues)
        == sorted(spec.name for spec in RERUNNING)
        == [
            "order_import",
            "wholecell_watch",
        ]
    )
    for spec in FUNCTIONS:
        resource = deployed.raw["Resources"][deployed.logical_id(functions.by_name[spec.name])]
        variables = resource["Properties"]["Environment"]["Variables"]
        if spec.rerun_after_seconds is None:
            assert RERUN_QUEUE_VARIABLE not in variables
        else:
            assert variables[RERUN_QUEUE_VARIABLE] == {
                "Ref": deployed.logical_id(functions.rerun_queues[spec.name])
            }


def test_a_rerun_is_delivered_once_and_a_failed_one_waits_in_the_failure_queue(deployed: Any) -> None:
    functions = deployed.stack.functions
    for spec in RERUNNING:
        queue = deployed.raw["Resources"][deployed.logical_id(functions.rerun_queues[spec.name])][
            "Properties"
        ]
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": _arn(deployed, functions.failure_queues[spec.name]),
            "maxReceiveCount": 1,
        }
        assert queue["VisibilityTimeout"] >= spec.timeout_seconds  # Lambda refuses less
        assert queue["SqsManagedSseEnabled"] is True


def test_the_rerun_queue_invokes_its_function_one_message_at_a_time(deployed: Any) -> None:
    functions = deployed.stack.functions
    mappings = [
        resource["Properties"]
        for resource in deployed.resources("AWS::Lambda::EventSourceMapping").values()
        if "Fn::GetAtt" in resource["Properties"]["EventSourceArn"]
        and resource["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        in {deployed.logical_id(queue) for queue in functions.rerun_queues.values()}
    ]
    assert len(mappings) == len(RERUNNING)
    for spec in RERUNNING:
        (mapping,) = [
            m for m in mappings if m["EventSourceArn"] == _arn(deployed, functions.rerun_queues[spec.name])
        ]
        assert mapping["FunctionName"] == {"Ref": deployed.logical_id(functions.by_name[spec.name])}
        assert mapping["BatchSize"] == 1
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_a_function_sends_only_to_its_own_queues(deployed: Any) -> None:
    """SendMessage on its own rerun queue (and, as Lambda's on-failure destination, its failure queue),
    nothing more: no other function's queue, no GetQueueUrl or GetQueueAttributes it never calls."""
    functions = deployed.stack.functions
    for spec in FUNCTIONS:
        sends = [
            s for s in _role_statements(deployed, spec.name) if "sqs:SendMessage" in _as_list(s["Action"])
        ]
        own = [functions.failure_queues.get(spec.name), functions.rerun_queues.get(spec.name)]
        allowed = [_arn(deployed, queue) for queue in own if queue is not None]
        assert all(resource in allowed for s in sends for resource in _as_list(s["Resource"])), spec.name
        if spec.rerun_after_seconds is not None:
            rerun_queue = _arn(deployed, functions.rerun_queues[spec.name])
            (grant,) = [s for s in sends if rerun_queue in _as_list(s["Resource"])]
            assert grant["Action"] == "sqs:SendMessage" and grant["Resource"] == rerun_queue
