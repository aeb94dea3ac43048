"""The process-wide limiter keeps under Back Market's budgets, waiting on the injected clock."""

from __future__ import annotations

import threading

import pytest

from bmsync.backmarket.errors import RateLimited
from bmsync.backmarket.limiter import Budgets, RateLimiter, reset_shared_limiters, shared_limiter
from bmsync.clock import ManualClock


def test_requests_wait_for_the_window_and_never_exceed_it() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock, Budgets(requests_per_window=5, window_seconds=10))
    sent_at: list[float] = []
    for _ in range(12):
        limiter.acquire()
        sent_at.append(clock.monotonic())
    # Counted in 1-second buckets: the first five wait until their bucket has left the last 11 s.
    assert sent_at[:5] == [0.0] * 5
    assert sent_at[5:10] == [11.0] * 5
    assert sent_at[10:] == [22.0, 22.0]
    # In any 10 s window, at most 5 were sent.
    for start in sent_at:
        assert sum(1 for moment in sent_at if start <= moment < start + 10) <= 5


def test_remaining_budgets_are_queryable_and_refill() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock, Budgets(requests_per_window=10, sku_updates_per_hour=100))
    for _ in range(3):
        limiter.acquire(sku_updates=20)
    assert limiter.requests_remaining() == 7
    assert limiter.sku_updates_remaining() == 40
    clock.advance(11)
    assert limiter.requests_remaining() == 10
    assert limiter.sku_updates_remaining() == 40
    clock.advance(3630)
    assert limiter.sku_updates_remaining() == 100


def test_sku_budget_waits_briefly_but_refuses_a_long_wait() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock, Budgets(sku_updates_per_hour=3, max_sku_wait_seconds=30))
    for _ in range(3):
        limiter.acquire(sku_updates=1)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(sku_updates=1)
    # Counted per half-minute: the first one leaves the count once a full hour lies after it.
    assert caught.value.retryable and caught.value.retry_after == pytest.approx(3630)
    assert "SKU update budget" in caught.value.message
    # Nothing was recorded for the refused update; plain requests still go.
    assert limiter.sku_updates_remaining() == 0
    limiter.acquire()
    clock.advance(3610)
    limiter.acquire(sku_updates=1)  # waits the last 20 s instead of failing
    assert clock.monotonic() == pytest.approx(3630)


def test_more_sku_lines_than_the_budget_can_never_fit() -> None:
    limiter = RateLimiter(ManualClock(), Budgets(sku_updates_per_hour=10))
    with pytest.raises(ValueError, match="never fit"):
        limiter.acquire(sku_updates=11)


def test_threads_share_one_budget() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock, Budgets(requests_per_window=20, window_seconds=10))
    sent_at: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            limiter.acquire()
            with lock:
                sent_at.append(clock.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent_at) == 100
    for start in sent_at:
        assert sum(1 for moment in sent_at if start <= moment < start + 10) <= 20


def test_one_limiter_per_host_and_token_for_the_whole_process() -> None:
    clock = ManualClock()
    reset_shared_limiters()
    first = shared_limiter("https://www.backmarket.fr", "token-a", clock)
    assert shared_limiter("https://www.backmarket.fr/", "token-a", clock) is first
    assert shared_limiter("https://www.backmarket.fr", "token-b", clock) is not first
    assert shared_limiter("https://www.backmarket.com", "token-a", clock) is not first
    tuned = shared_limiter("https://www.backmarket.fr", "token-a", clock, Budgets(sku_updates_per_hour=5))
    assert tuned is not first and tuned.sku_updates_remaining() == 5
    assert shared_limiter("https://www.backmarket.fr", "token-a", clock) is tuned
    reset_shared_limiters()
    assert shared_limiter("https://www.backmarket.fr", "token-a", clock) is not tuned
    reset_shared_limiters()
