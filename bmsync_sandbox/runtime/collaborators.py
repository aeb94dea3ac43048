"""The harness's hold on the handlers' process-wide clock, retry jitter, fan-out and rerun requests
(``bmsync.process``).

The product only reads them (``process.clock()``, ``process.jitter()``) and has no setter: in Lambda
nothing replaces them. The harness assigns the fields of ``process.current``, the one injection point
the product documents, through these functions and nowhere else, so a search for who changes
the handlers' clock finds one place.
"""

from __future__ import annotations

import random

from bmsync import process
from bmsync.clock import Clock
from bmsync.fan_out import FanOut
from bmsync.rerun import RequestRerun


def use_clock(clock: Clock) -> None:
    """The handlers' clock from now on (a runtime's, a simulator's ManualClock, or the system's again)."""
    process.current.clock = clock


def use_jitter(source: random.Random) -> None:
    """Where the handlers' retry waits draw their jitter from now on (a seeded one replays)."""
    process.current.jitter = source


def use_fan_out(fan_out: FanOut) -> None:
    """How the handlers' scheduled runs start one invocation per connection (the harness's invoker)."""
    process.current.fan_out = fan_out


def use_request_rerun(request_rerun: RequestRerun) -> None:
    """How the handlers' scheduled runs ask for their rerun (the harness's invoker delivers it)."""
    process.current.request_rerun = request_rerun
