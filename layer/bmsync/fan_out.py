"""Starting one invocation of a function per connection (a scheduled run's fan-out): a small port.

A scheduled event without a connection would otherwise run every connection one after the other in
one invocation, so one slow or failing connection would delay the rest. In Lambda the function
invokes itself asynchronously (``InvocationType=Event``) once per connection; a runtime that is not
Lambda (the local harness and the simulator) installs its own invoker in ``bmsync.process.current``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import boto3


class FanOut(Protocol):
    def __call__(self, function_arn: str, event: dict[str, Any]) -> None:
        """Invoke ``function_arn`` with ``event`` without waiting for it."""
        ...


def invoke_async(function_arn: str, event: dict[str, Any]) -> None:
    """Lambda's asynchronous invoke: the event is queued by Lambda and run in its own invocation."""
    boto3.client("lambda").invoke(
        FunctionName=function_arn, InvocationType="Event", Payload=json.dumps(event).encode()
    )
