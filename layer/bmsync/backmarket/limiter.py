"""A client-side rate limiter that keeps every process of a token under Back Market's budgets.

Back Market blocks a seller for 10 s after about 200 requests in 10 s, and refuses listing writes after
about 2,000 SKU lines in an hour, per token. The limiter counts both in shared budgets, stored
per connection so that every container and function using the token keeps under them together, with
defaults a little under those budgets. Waits go through the injected clock, so a simulated clock runs
thousands of calls in seconds.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from bmsync.backmarket.errors import RateLimited
from bmsync.clock import Clock
from bmsync.shared_budget import BudgetRule, BudgetStore, InMemoryBudgetStore, SharedBudget

DEFAULT_REQUESTS_PER_WINDOW = 180
REQUEST_WINDOW_SECONDS = 10.0
DEFAULT_SKU_UPDATES_PER_HOUR = 1900
SKU_WINDOW_SECONDS = 3600.0
#: A SKU update waits at most this long for budget; beyond it the caller gets RateLimited (a Lambda
#: must not sit idle for most of an hour: the next run carries on).
DEFAULT_MAX_SKU_WAIT_SECONDS = 30.0
#: The request window is counted in buckets of a tenth of it (a shared count checks 11 buckets: 11 s).
REQUEST_BUCKETS_PER_WINDOW = 10
#: Requests reserved per write of the shared count (unspent ones go back when their bucket ends).
REQUEST_BATCH = 10
#: The hour of SKU updates is counted in half-minutes: a unit frees at most 30 s after its hour (finer
#: buckets would make the stored item, written once per SKU update, larger).
SKU_BUCKETS_PER_WINDOW = 120


@dataclass(frozen=True)
class Budgets:
    requests_per_window: int = DEFAULT_REQUESTS_PER_WINDOW
    window_seconds: float = REQUEST_WINDOW_SECONDS
    sku_updates_per_hour: int = DEFAULT_SKU_UPDATES_PER_HOUR
    sku_window_seconds: float = SKU_WINDOW_SECONDS
    max_sku_wait_seconds: float = DEFAULT_MAX_SKU_WAIT_SECONDS


def _rules(budgets: Budgets) -> tuple[BudgetRule, BudgetRule]:
    """The shared rules of the request window and the SKU-update budget."""
    requests = BudgetRule(
        limit=budgets.requests_per_window,
        window_seconds=budgets.window_seconds,
        bucket_seconds=budgets.window_seconds / REQUEST_BUCKETS_PER_WINDOW,
        batch=REQUEST_BATCH,
    )
    sku_updates = BudgetRule(
        limit=budgets.sku_updates_per_hour,
        window_seconds=budgets.sku_window_seconds,
        bucket_seconds=budgets.sku_window_seconds / SKU_BUCKETS_PER_WINDOW,
    )
    return requests, sku_updates


class RateLimiter:
    """Thread-safe; one per (host, token) in a process (see :func:`shared_limiter`).

    Its budgets live in ``store``: a connection's DynamoDB item, shared by every container and
    function using the token (:class:`bmsync.store.budgets_repo.BudgetsRepository`), or by default
    this process's memory.
    """

    def __init__(
        self,
        clock: Clock,
        budgets: Budgets | None = None,
        *,
        store: BudgetStore | None = None,
        scope: str = "",
    ) -> None:
        self.clock = clock
        self.budgets = budgets or Budgets()
        self.store: BudgetStore = store if store is not None else InMemoryBudgetStore()
        self.scope = scope
        request_rule, sku_rule = _rules(self.budgets)
        self._requests = SharedBudget(self.store, "backmarket-requests", request_rule, clock)
        self._sku_updates = SharedBudget(self.store, "backmarket-sku-updates", sku_rule, clock)

    def acquire(self, *, sku_updates: int = 0) -> None:
        """Block (on the clock) until one request, carrying ``sku_updates`` SKU lines, may be sent."""
        pending_sku_updates = sku_updates
        while True:
            if pending_sku_updates:
                wait = self._sku_updates.try_take(pending_sku_updates)
                if wait > self.budgets.max_sku_wait_seconds:
                    raise RateLimited(
                        f"Back Market's SKU update budget ({self.budgets.sku_updates_per_hour} per hour) is "
                        f"used up; the next update fits in {wait / 60:.0f} min.",
                        status=None,
                        retry_after=wait,
                    )
                if wait <= 0:
                    pending_sku_updates = 0
                    continue
            else:
                wait = self._requests.try_take(1)
                if wait <= 0:
                    return
            self.clock.sleep(wait)

    def hold_sku_updates(self, count: int, *, keep: int) -> bool:
        """Set aside ``count`` SKU updates for this process's next calls if ``keep`` stay free for
        everyone afterwards (an increase must leave the reserve kept for decreases)."""
        return self._sku_updates.hold(count, keep=keep)

    def requests_remaining(self) -> int:
        return self._requests.remaining()

    def sku_updates_remaining(self) -> int:
        return self._sku_updates.remaining()


_shared: dict[tuple[str, str], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(
    host: str,
    token: str,
    clock: Clock,
    budgets: Budgets | None = None,
    *,
    store: BudgetStore | None = None,
    scope: str = "",
) -> RateLimiter:
    """The process-wide limiter of a (host, token); the token is only kept as a hash.

    ``store`` and ``scope`` (the connection whose stored budgets it is) make the limiter count in the
    budgets every container shares. Giving ``budgets`` that differ from the current limiter's installs a
    new limiter with them and the current store (tests and the simulator tune budgets this way); a
    different scope or clock does the same.
    """
    key = (host.lower().rstrip("/"), hashlib.sha256(token.encode()).hexdigest())
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None or limiter.clock is not clock:
            limiter = RateLimiter(clock, budgets, store=store, scope=scope)
        elif (budgets is not None and budgets != limiter.budgets) or (
            store is not None and scope != limiter.scope
        ):
            limiter = RateLimiter(
                clock,
                budgets or limiter.budgets,
                store=store if store is not None else limiter.store,
                scope=scope if store is not None else limiter.scope,
            )
        _shared[key] = limiter
        return limiter


def reset_shared_limiters() -> None:
    """Forget every process-wide limiter (tests, and the simulator between runs)."""
    with _shared_lock:
        _shared.clear()
