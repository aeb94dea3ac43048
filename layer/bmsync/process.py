"""Process-wide collaborators that handlers share: the clock.

Lambda handlers are entry points, so they cannot take a clock as an argument; they ask this module.
Production and the sandbox use the system clock; the simulator installs a ManualClock with
:func:`use_clock` before it invokes any handler.
"""

from __future__ import annotations

from bmsync.clock import Clock, SystemClock

_clock: Clock = SystemClock()


def clock() -> Clock:
    return _clock


def use_clock(new_clock: Clock) -> None:
    global _clock
    _clock = new_clock
