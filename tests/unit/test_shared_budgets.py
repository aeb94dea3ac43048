"""Two containers (two processes' limiters, one sync_state table) keep under one token's budgets.

Each "container" is a :class:`RateLimiter` of its own, as a separate Lambda process has; they share
only the DynamoDB item of their connection. Their calls are interleaved on one simulated clock.
"""

from __future__ import annotations

import pytest

from bmsync.backmarket.errors import RateLimited
from bmsync.backmarket.limiter import Budgets, RateLimiter
from bmsync.clock import ManualClock
from bmsync.shared_budget import BudgetCounts, BudgetRule, InMemoryBudgetStore, SharedBudget
from bmsync.store.budgets_repo import BudgetsRepository
from bmsync.wholecell.client import RequestLimiter

WINDOW = 10.0
LIMIT = 20


def _most_in_any_window(moments: list[float], window: float) -> int:
    return max(sum(1 for other in moments if start <= other < start + window) for start in moments)


def _send_interleaved(limiters: list[RateLimiter], clock: ManualClock, calls: int) -> list[float]:
    sent_at: list[float] = []
    for call in range(calls):
        limiters[call % len(limiters)].acquire()
        sent_at.append(clock.monotonic())
    return sent_at


def test_two_containers_never_exceed_the_request_window_together(aws: None, clock: ManualClock) -> None:
    budgets = Budgets(requests_per_window=LIMIT, window_seconds=WINDOW)
    containers = [RateLimiter(clock, budgets, store=BudgetsRepository("eu"), scope="eu") for _ in range(2)]
    sent_at = _send_interleaved(containers, clock, 120)
    assert _most_in_any_window(sent_at, WINDOW) <= LIMIT
    # ...and still use most of it: 120 requests in 6 counts of 11 s, not one at a time.
    assert sent_at[-1] <= 5 * 11


def test_per_process_limiters_exceed_the_window_together(clock: ManualClock) -> None:
    """What the limiters did before the budgets were stored: each process counted only its own."""
    budgets = Budgets(requests_per_window=LIMIT, window_seconds=WINDOW)
    containers = [RateLimiter(clock, budgets, store=InMemoryBudgetStore()) for _ in range(2)]
    sent_at = _send_interleaved(containers, clock, 120)
    assert _most_in_any_window(sent_at, WINDOW) == 2 * LIMIT


def test_connections_have_budgets_of_their_own(aws: None, clock: ManualClock) -> None:
    budgets = Budgets(requests_per_window=LIMIT, window_seconds=WINDOW)
    eu = RateLimiter(clock, budgets, store=BudgetsRepository("eu"), scope="eu")
    us = RateLimiter(clock, budgets, store=BudgetsRepository("us"), scope="us")
    for _ in range(LIMIT):
        eu.acquire()
        us.acquire()
    assert clock.monotonic() == 0.0


def test_two_containers_keep_the_decrease_reserve_of_the_hourly_sku_budget(
    aws: None, clock: ManualClock
) -> None:
    hourly, reserve = 30, 8
    budgets = Budgets(sku_updates_per_hour=hourly, max_sku_wait_seconds=30)
    containers = [RateLimiter(clock, budgets, store=BudgetsRepository("eu"), scope="eu") for _ in range(2)]
    # Both push increases, in turn, while the budget leaves more than the reserve (as quantity_sync does).
    increases = refused_in_a_row = turn = 0
    while refused_in_a_row < len(containers):
        container = containers[turn % len(containers)]
        turn += 1
        if container.hold_sku_updates(1, keep=reserve):
            container.acquire(sku_updates=1)
            increases += 1
            refused_in_a_row = 0
        else:
            refused_in_a_row += 1
    assert increases == hourly - reserve
    assert containers[0].sku_updates_remaining() == reserve
    # The reserve is there for decreases, from either container; then the hour is used up.
    for number in range(reserve):
        containers[number % 2].acquire(sku_updates=1)
    with pytest.raises(RateLimited):
        containers[1].acquire(sku_updates=1)


def test_unspent_reservations_go_back_when_their_bucket_ends() -> None:
    clock = ManualClock()
    store = InMemoryBudgetStore()
    rule = BudgetRule(limit=10, window_seconds=10, bucket_seconds=1, batch=5)
    first, second = (SharedBudget(store, "requests", rule, clock) for _ in range(2))
    assert first.try_take(1) == 0.0  # counts 5 in the shared item: 4 held by the first container
    assert second.remaining() == 5
    clock.advance(1)
    assert first.try_take(1) == 0.0  # a new bucket: the 4 unspent go back in the same write
    counts = store.load_counts("requests")
    assert counts is not None and sorted(counts.buckets.values()) == [1, 5]
    assert second.remaining() == 10 - 1 - 5


def test_a_lost_race_is_retried_on_the_new_count() -> None:
    clock = ManualClock()
    store = InMemoryBudgetStore()
    rule = BudgetRule(limit=3, window_seconds=10, bucket_seconds=1)
    budget = SharedBudget(store, "requests", rule, clock)
    real_save = store.save_counts
    raced = []

    def save_after_another_container(name, counts, *, expected_version, expires_at):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            other = SharedBudget(store, "requests", rule, clock)
            assert other.try_take(2) == 0.0
        return real_save(name, counts, expected_version=expected_version, expires_at=expires_at)

    store.save_counts = save_after_another_container  # type: ignore[method-assign]
    assert budget.try_take(1) == 0.0
    assert budget.try_take(1) > 0  # 2 + 1 taken: the limit of 3 holds although the first write lost


def test_wholecell_containers_share_its_requests_a_second(aws: None, clock: ManualClock) -> None:
    containers = [RequestLimiter(clock, 2.0, shared=BudgetsRepository("eu")) for _ in range(3)]
    sent_at: list[float] = []
    for call in range(60):
        containers[call % 3].acquire()
        sent_at.append(clock.monotonic())
    assert _most_in_any_window(sent_at, 5.0) <= 10


def test_a_container_alone_writes_without_reading_first() -> None:
    clock = ManualClock()
    store = InMemoryBudgetStore()
    reads: list[str] = []
    real_load = store.load_counts

    def counted_load(name: str) -> BudgetCounts | None:
        reads.append(name)
        return real_load(name)

    store.load_counts = counted_load  # type: ignore[method-assign]
    budget = SharedBudget(
        store, "requests", BudgetRule(limit=100, window_seconds=10, bucket_seconds=1), clock
    )
    for _ in range(20):
        assert budget.try_take(1) == 0.0
        clock.advance(1)
    assert reads == ["requests"]  # its own last write is the item: one read, twenty writes
    other = SharedBudget(store, "requests", budget.rule, clock)
    assert other.try_take(1) == 0.0
    assert budget.try_take(1) == 0.0  # the other wrote: the conditional write fails, then it reads
    assert len(reads) == 3
