"""Asking for a scheduled run's second run of its minute (a rerun, ``rerun_after_seconds`` in the
catalogue): a small port.

EventBridge Scheduler's shortest rate is one minute; a message with ``DelaySeconds`` on the function's
rerun queue (an SQS event source of the same function) runs it again half a minute later, for no more
than a message and an invocation. In Lambda the queue's URL is in the function's environment; a
runtime that is not Lambda (the local harness and the simulator) installs its own in
``bmsync.process.current`` and delivers the message on its clock.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import boto3

from bmsync.environment import Environment


class RequestRerun(Protocol):
    def __call__(self, event: dict[str, Any], delay_seconds: int) -> None:
        """Deliver ``event`` (a rerun's scheduled event) to its function ``delay_seconds`` from now."""
        ...


def send_to_rerun_queue(event: dict[str, Any], delay_seconds: int) -> None:
    """SQS's delayed delivery: the function's own rerun queue, from its environment."""
    boto3.client("sqs").send_message(
        QueueUrl=Environment.read().require_rerun_queue_url(),
        MessageBody=json.dumps(event),
        DelaySeconds=delay_seconds,
    )
