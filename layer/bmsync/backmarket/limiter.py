"""A client-side rate limiter that keeps a whole process under Back Market's budgets.

Back Market blocks a seller for 10 s after about 200 requests in 10 s, and refuses listing writes after
about 2,000 SKU lines in an hour. The limiter keeps a sliding log of what was sent per (host, token),
shared by every client of the process, with defaults a little under those budgets. Waits go through
the injected clock, so a simulated clock runs thousands of calls in seconds.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from dataclasses import dataclass

from bmsync.backmarket.errors import RateLimited
from bmsync.clock import Clock

DEFAULT_REQUESTS_PER_WINDOW = 180
REQUEST_WINDOW_SECONDS = 10.0
DEFAULT_SKU_UPDATES_PER_HOUR = 1900
SKU_WINDOW_SECONDS = 3600.0
#: A SKU update waits at most this long for budget; beyond it the caller gets RateLimited (a Lambda
#: must not sit idle for most of an hour: the next run carries on).
DEFAULT_MAX_SKU_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Budgets:
    requests_per_window: int = DEFAULT_REQUESTS_PER_WINDOW
    window_seconds: float = REQUEST_WINDOW_SECONDS
    sku_updates_per_hour: int = DEFAULT_SKU_UPDATES_PER_HOUR
    sku_window_seconds: float = SKU_WINDOW_SECONDS
    max_sku_wait_seconds: float = DEFAULT_MAX_SKU_WAIT_SECONDS


class _SlidingLog:
    """Timestamps of the events of the last ``window`` seconds; at most ``limit`` of them."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._events and now - self._events[0] >= self.window:
            self._events.popleft()

    def remaining(self, now: float) -> int:
        self._expire(now)
        return max(0, self.limit - len(self._events))

    def wait_for(self, count: int, now: float) -> float:
        """Seconds until ``count`` more events fit (0 when they fit now)."""
        self._expire(now)
        excess = len(self._events) + count - self.limit
        if excess <= 0:
            return 0.0
        if count > self.limit:
            raise ValueError(f"{count} events can never fit a budget of {self.limit}")
        # The excess-th oldest event must leave the window first.
        return self._events[excess - 1] + self.window - now

    def record(self, count: int, now: float) -> None:
        self._events.extend([now] * count)


class RateLimiter:
    """Thread-safe; one per (host, token) in a process (see :func:`shared_limiter`)."""

    def __init__(self, clock: Clock, budgets: Budgets | None = None) -> None:
        self.clock = clock
        self.budgets = budgets or Budgets()
        self._requests = _SlidingLog(self.budgets.requests_per_window, self.budgets.window_seconds)
        self._sku_updates = _SlidingLog(self.budgets.sku_updates_per_hour, self.budgets.sku_window_seconds)
        self._lock = threading.Lock()

    def acquire(self, *, sku_updates: int = 0) -> None:
        """Block (on the clock) until one request, carrying ``sku_updates`` SKU lines, may be sent."""
        while True:
            with self._lock:
                now = self.clock.monotonic()
                sku_wait = self._sku_updates.wait_for(sku_updates, now) if sku_updates else 0.0
                if sku_wait > self.budgets.max_sku_wait_seconds:
                    raise RateLimited(
                        f"Back Market's SKU update budget ({self.budgets.sku_updates_per_hour} per hour) is "
                        f"used up; the next update fits in {sku_wait / 60:.0f} min.",
                        status=None,
                        retry_after=sku_wait,
                    )
                wait = max(sku_wait, self._requests.wait_for(1, now))
                if wait <= 0:
                    self._requests.record(1, now)
                    if sku_updates:
                        self._sku_updates.record(sku_updates, now)
                    return
            # Sleep outside the lock so other threads can read the budgets; re-check after.
            self.clock.sleep(wait)

    def requests_remaining(self) -> int:
        with self._lock:
            return self._requests.remaining(self.clock.monotonic())

    def sku_updates_remaining(self) -> int:
        with self._lock:
            return self._sku_updates.remaining(self.clock.monotonic())


_shared: dict[tuple[str, str], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(host: str, token: str, clock: Clock, budgets: Budgets | None = None) -> RateLimiter:
    """The process-wide limiter of a (host, token); the token is only kept as a hash.

    Giving ``budgets`` that differ from the current limiter's installs a new limiter with them (tests
    and the simulator tune budgets this way); a different clock does the same.
    """
    key = (host.lower().rstrip("/"), hashlib.sha256(token.encode()).hexdigest())
    with _shared_lock:
        limiter = _shared.get(key)
        reconfigured = budgets is not None and limiter is not None and limiter.budgets != budgets
        if limiter is None or limiter.clock is not clock or reconfigured:
            limiter = RateLimiter(clock, budgets)
            _shared[key] = limiter
        return limiter


def reset_shared_limiters() -> None:
    """Forget every process-wide limiter (tests, and the simulator between runs)."""
    with _shared_lock:
        _shared.clear()
