"""Process-wide collaborators that handlers share: the clock, the random source of retry jitter, how
a scheduled run fans out to one invocation per connection, and how it asks for its rerun.

Lambda handlers are entry points, so they cannot take a clock as an argument; they ask this module.
In Lambda they are the system clock and an unseeded generator, and nothing ever replaces them. A
runtime that invokes the handlers itself (the local harness, ``bmsync_sandbox.runtime.collaborators``)
replaces the fields of :data:`current` before it invokes any handler: the simulator's ManualClock and
a seeded generator make a run replay exactly from its seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bmsync.clock import Clock, SystemClock
from bmsync.fan_out import FanOut, invoke_async
from bmsync.rerun import RequestRerun, send_to_rerun_queue


@dataclass
class Collaborators:
    clock: Clock = field(default_factory=SystemClock)
    #: Where retry waits draw their jitter (never used for anything secret).
    jitter: random.Random = field(default_factory=random.Random)
    #: How a scheduled run starts one invocation per connection (Lambda's asynchronous invoke).
    fan_out: FanOut = invoke_async
    #: How a scheduled run asks for its second run of the minute (the function's SQS rerun queue).
    request_rerun: RequestRerun = send_to_rerun_queue


#: The injection point: read through :func:`clock` and :func:`jitter`; only a harness assigns its fields.
current = Collaborators()


def clock() -> Clock:
    return current.clock


def jitter() -> random.Random:
    """Where retry waits draw their jitter (never used for anything secret)."""
    return current.jitter


def fan_out() -> FanOut:
    """How a scheduled run starts one invocation of its function per connection."""
    return current.fan_out


def request_rerun() -> RequestRerun:
    """How a scheduled run asks for its rerun ``rerun_after_seconds`` later."""
    return current.request_rerun
