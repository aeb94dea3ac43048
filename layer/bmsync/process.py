"""Process-wide collaborators that handlers share: the clock, and the random source of retry jitter.

Lambda handlers are entry points, so they cannot take a clock as an argument; they ask this module.
Production and the sandbox use the system clock and an unseeded generator; the simulator installs a
ManualClock with :func:`use_clock` and a seeded generator with :func:`use_jitter` before it invokes any
handler, so that a run replays exactly from its seed.
"""

from __future__ import annotations

import random

from bmsync.clock import Clock, SystemClock

_clock: Clock = SystemClock()
_jitter = random.Random()


def clock() -> Clock:
    return _clock


def use_clock(new_clock: Clock) -> None:
    global _clock
    _clock = new_clock


def jitter() -> random.Random:
    """Where retry waits draw their jitter (never used for anything secret)."""
    return _jitter


def use_jitter(source: random.Random) -> None:
    global _jitter
    _jitter = source
