"""5,000 calls stay under Back Market's budgets; a stricter server is survived without losing a call.

The client's limiter and the sandbox's budgets share one ManualClock: the limiter's waits advance it,
so minutes of simulated traffic take seconds.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bmsync.backmarket.errors import RateLimited
from bmsync.backmarket.limiter import DEFAULT_SKU_UPDATES_PER_HOUR, Budgets, RateLimiter
from bmsync_sandbox.backmarket.server import BackMarketSandbox

CALLS = 5000


def _max_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = 0
    start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _call_times(sandbox: BackMarketSandbox) -> list[float]:
    return [call["monotonic"] for call in sandbox.calls() if call["status"] != 429]


def test_5000_calls_with_known_budgets_never_see_a_429(
    bm_sandbox: BackMarketSandbox, make_client, bm_clock
) -> None:
    client = make_client(bm_sandbox)
    orders = [order.order_id for order in client.iter_orders()]
    listings = list(client.iter_listings())
    bm_sandbox.clear_calls()
    quantities: dict[str, int] = {}
    for number in range(CALLS):
        if number % 5 == 0:
            listing = listings[number % len(listings)]
            quantities[listing.id] = number % 7
            assert client.update_listing(listing.id, quantity=number % 7).quantity == number % 7
        else:
            order_id = orders[number % len(orders)]
            assert client.get_order(order_id).order_id == order_id
    calls = bm_sandbox.calls()
    statuses = Counter(call["status"] for call in calls)
    assert statuses == {200: CALLS}
    assert _max_in_any_window(_call_times(bm_sandbox), 10.0) <= 180
    # ~5000 / 180 per 10 s: the limiter paced the traffic instead of bursting into a block.
    # 180 per 11 s: the shared count looks at 11 one-second buckets, so that no 10 s ever holds more.
    assert 270 <= bm_clock.monotonic() <= 310
    for listing_id, quantity in quantities.items():
        assert client.get_listing(listing_id).quantity == quantity
    assert 0 <= client.requests_remaining() <= 180
    # every update fell inside the hour
    assert client.sku_updates_remaining() == DEFAULT_SKU_UPDATES_PER_HOUR - CALLS // 5


def test_a_server_budget_below_the_clients_is_recovered_without_losing_a_call(
    bm_sandbox: BackMarketSandbox, make_client, bm_clock
) -> None:
    bm_sandbox.set_budgets(requests_per_window=100, window_seconds=10, block_seconds=10)
    client = make_client(bm_sandbox)  # the default limiter: 180 per 10 s, more than the server allows
    listings = list(client.iter_listings())
    bm_sandbox.clear_calls()
    wanted: dict[str, int] = {}
    for number in range(CALLS):
        listing = listings[number % len(listings)]
        if number % 4 == 0:
            wanted[listing.id] = number % 9
            assert client.update_listing(listing.id, quantity=number % 9).quantity == number % 9
        else:
            assert client.get_listing(listing.id).id == listing.id
    statuses = Counter(call["status"] for call in bm_sandbox.calls())
    assert statuses[200] == CALLS  # every call landed exactly once
    assert statuses[429] > 0 and set(statuses) == {200, 429}
    final = {item["id"]: item["quantity"] for item in bm_sandbox.listings()}
    assert all(final[listing_id] == quantity for listing_id, quantity in wanted.items())


def test_the_sku_budget_is_respected_and_exhaustion_is_a_typed_error(
    empty_sandbox: BackMarketSandbox, make_client, bm_clock
) -> None:
    empty_sandbox.add_listing("SKU-BUDGET", 1)
    listing_id = empty_sandbox.listing("SKU-BUDGET")["id"]
    limiter = RateLimiter(bm_clock, Budgets(sku_updates_per_hour=40, max_sku_wait_seconds=3700))
    client = make_client(empty_sandbox, limiter=limiter)
    for number in range(100):
        client.update_listing(listing_id, quantity=number)
    assert empty_sandbox.listing("SKU-BUDGET")["quantity"] == 99
    # 100 updates at 40 per hour: the limiter waited two hours of (simulated) time, no 429.
    assert 7200 <= bm_clock.monotonic() < 7300
    assert Counter(call["status"] for call in empty_sandbox.calls()) == {200: 100}

    # A server stricter than the client: the client backs off, then reports RateLimited, never a crash.
    empty_sandbox.set_budgets(sku_updates_per_hour=5)
    relaxed = make_client(empty_sandbox, limiter=RateLimiter(bm_clock, Budgets()))
    for number in range(5):
        relaxed.update_listing(listing_id, quantity=number)
    with pytest.raises(RateLimited) as caught:
        relaxed.update_listing(listing_id, quantity=42)
    assert caught.value.retryable and caught.value.status == 429
    assert empty_sandbox.listing("SKU-BUDGET")["quantity"] == 4


def test_remaining_budgets_let_callers_prioritise(
    empty_sandbox: BackMarketSandbox, make_client, bm_clock
) -> None:
    empty_sandbox.add_listing("SKU-P", 1)
    listing_id = empty_sandbox.listing("SKU-P")["id"]
    client = make_client(empty_sandbox, limiter=RateLimiter(bm_clock, Budgets(sku_updates_per_hour=3)))
    assert client.sku_updates_remaining() == 3
    client.update_listing(listing_id, quantity=2)
    client.get_listing(listing_id)
    assert client.sku_updates_remaining() == 2
    assert client.requests_remaining() == 178
    client.update_listing(listing_id, quantity=1)
    client.update_listing(listing_id, quantity=0)
    assert client.sku_updates_remaining() == 0
    with pytest.raises(RateLimited, match="SKU update budget"):
        client.update_listing(listing_id, quantity=5)
    assert empty_sandbox.listing("SKU-P")["quantity"] == 0  # the refused update never left the process
