"""Every fault mode of the sandbox ends in the documented error or a successful retry: no crash, no loss."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bmsync.backmarket.errors import BackMarketError, Blocked, InvalidTransition, RateLimited, ServerError
from bmsync.backmarket.models import LINE_ACCEPTED, LINE_SHIPPED
from bmsync_sandbox.backmarket.server import BackMarketSandbox, Fault

GET_ORDER = "GET /ws/orders/{order_id}"
POST_ORDER = "POST /ws/orders/{order_id}"
POST_LISTING = "POST /ws/listings/{listing_id}"
POST_BATCH = "POST /ws/listings"


@pytest.fixture
def paid_order(bm_sandbox: BackMarketSandbox) -> tuple[int, str]:
    sku = next(item["sku"] for item in bm_sandbox.listings() if item["quantity"] >= 2)
    return bm_sandbox.create_buyer_order(sku)["order_id"], sku


def _routes(sandbox: BackMarketSandbox) -> list[str]:
    return [call["route"] for call in sandbox.calls()]


@pytest.mark.parametrize("mode", ["server_error", "html_429", "malformed_json", "html_403"])
def test_a_passing_fault_on_a_read_is_retried_to_success(bm_sandbox, bm_client, paid_order, mode) -> None:
    order_id, _ = paid_order
    bm_sandbox.set_faults([{"mode": mode, "route": GET_ORDER, "count": 2}])
    bm_sandbox.clear_calls()
    assert bm_client.get_order(order_id).order_id == order_id
    assert [call["fault"] for call in bm_sandbox.calls()] == [mode, mode, None]


def test_timeouts_and_slow_answers_on_reads(bm_sandbox, make_client, paid_order) -> None:
    order_id, _ = paid_order
    client = make_client(bm_sandbox, timeout=(1.0, 0.15))
    bm_sandbox.set_faults([{"mode": "timeout", "route": GET_ORDER, "count": 1, "delay": 0.3}])
    assert client.get_order(order_id).order_id == order_id
    bm_sandbox.set_faults([{"mode": "slow", "route": GET_ORDER, "count": 1, "delay": 0.05}])
    bm_sandbox.clear_calls()
    assert client.get_order(order_id).order_id == order_id
    assert len(bm_sandbox.calls()) == 1  # slow but in time: not retried


@pytest.mark.parametrize(
    ("mode", "error_type", "attempts"),
    [
        ("server_error", ServerError, 4),
        ("malformed_json", ServerError, 4),
        ("html_429", RateLimited, 6),
        ("html_403", Blocked, 6),
    ],
)
def test_a_lasting_fault_ends_in_the_documented_error(
    bm_sandbox, bm_client, paid_order, mode, error_type, attempts
) -> None:
    order_id, _ = paid_order
    bm_sandbox.set_faults([{"mode": mode, "route": GET_ORDER, "rate": 1.0}])
    bm_sandbox.clear_calls()
    with pytest.raises(error_type) as caught:
        bm_client.get_order(order_id)
    assert caught.value.message and caught.value.action
    assert len(bm_sandbox.calls()) == attempts  # bounded
    if isinstance(caught.value, Blocked):
        assert caught.value.cf_ray


def test_a_lasting_timeout_is_a_server_error_after_bounded_attempts(
    bm_sandbox, make_client, paid_order
) -> None:
    order_id, _ = paid_order
    client = make_client(bm_sandbox, timeout=(1.0, 0.1))
    bm_sandbox.set_faults([{"mode": "timeout", "route": GET_ORDER, "rate": 1.0, "delay": 0.2}])
    bm_sandbox.clear_calls()
    with pytest.raises(ServerError, match="did not answer") as caught:
        client.get_order(order_id)
    assert caught.value.retryable
    assert len(bm_sandbox.calls()) == 4


def test_an_accept_whose_answer_is_lost_is_not_sent_twice(bm_sandbox, make_client, paid_order) -> None:
    order_id, sku = paid_order
    client = make_client(bm_sandbox, timeout=(1.0, 0.15))
    bm_sandbox.set_faults([{"mode": "timeout", "route": POST_ORDER, "count": 1, "after": True, "delay": 0.3}])
    bm_sandbox.clear_calls()
    order = client.accept_orderline(order_id, sku)
    assert order.orderlines[0].state == LINE_ACCEPTED
    assert _routes(bm_sandbox) == [POST_ORDER, GET_ORDER]


def test_an_accept_that_failed_before_processing_is_sent_again(bm_sandbox, bm_client, paid_order) -> None:
    order_id, sku = paid_order
    bm_sandbox.set_faults([{"mode": "server_error", "route": POST_ORDER, "count": 1, "status": 503}])
    bm_sandbox.clear_calls()
    assert bm_client.accept_orderline(order_id, sku).orderlines[0].state == LINE_ACCEPTED
    assert _routes(bm_sandbox) == [POST_ORDER, GET_ORDER, POST_ORDER]
    assert bm_sandbox.order(order_id)["orderlines"][0]["state"] == LINE_ACCEPTED


def test_a_state_change_already_made_counts_as_done(bm_sandbox, bm_client, paid_order) -> None:
    order_id, sku = paid_order
    # The firewall's page came back although the change went through: the resend is refused by
    # Back Market, the re-read shows the line accepted, and the caller gets the accepted order.
    bm_sandbox.set_faults([{"mode": "html_403", "route": POST_ORDER, "count": 1, "after": True}])
    assert bm_client.accept_orderline(order_id, sku).orderlines[0].state == LINE_ACCEPTED
    assert bm_client.accept_orderline(order_id, sku).orderlines[0].state == LINE_ACCEPTED  # idempotent
    with pytest.raises(InvalidTransition, match="cannot move to state 4"):
        bm_client.cancel_orderline(order_id, sku)


def test_a_shipment_with_a_broken_answer_is_confirmed_by_rereading(bm_sandbox, bm_client, paid_order) -> None:
    order_id, sku = paid_order
    bm_client.accept_orderline(order_id, sku)
    bm_sandbox.set_faults([{"mode": "malformed_json", "route": POST_ORDER, "count": 1, "after": True}])
    bm_sandbox.clear_calls()
    order = bm_client.ship_order(order_id, tracking_number="TRK-LOST-1")
    assert order.tracking_number == "TRK-LOST-1" and order.orderlines[0].state == LINE_SHIPPED
    assert _routes(bm_sandbox).count(POST_ORDER) == 1


def test_a_listing_update_is_repeated_safely_and_a_batch_is_not(bm_sandbox, bm_client) -> None:
    listing = bm_sandbox.listings()[0]
    bm_sandbox.set_faults([{"mode": "server_error", "route": POST_LISTING, "count": 1, "after": True}])
    assert bm_client.update_listing(listing["id"], quantity=6).quantity == 6
    assert bm_sandbox.listing(listing["sku"])["quantity"] == 6

    bm_sandbox.set_faults([{"mode": "server_error", "route": POST_BATCH, "count": 1, "after": True}])
    bm_sandbox.clear_calls()
    with pytest.raises(ServerError) as caught:
        bm_client.submit_batch(f"sku,quantity\n{listing['sku']},2\n")
    assert caught.value.retryable
    assert _routes(bm_sandbox) == [POST_BATCH]  # never a duplicate batch


def test_an_identifier_write_with_an_unclear_outcome_is_reported_not_repeated(
    bm_sandbox, bm_client, paid_order
) -> None:
    order_id, sku = paid_order
    line_id = bm_client.accept_orderline(order_id, sku).orderlines[0].id
    bm_sandbox.set_faults(
        [{"mode": "server_error", "route": "PATCH /ws/orderlines/{orderline_id}", "count": 1}]
    )
    bm_sandbox.clear_calls()
    with pytest.raises(ServerError):
        bm_client.set_orderline_identifiers(line_id, serial_number="SN-1")
    assert len(bm_sandbox.calls()) == 1
    bm_client.set_orderline_identifiers(line_id, serial_number="SN-1")
    assert bm_sandbox.order(order_id)["orderlines"][0]["serial_number"] == "SN-1"


def test_random_faults_on_every_route_never_crash_nor_lose_a_change(bm_sandbox, bm_client) -> None:
    """A seeded storm over a mixed workload: each call succeeds or raises a typed BackMarketError, and
    what the client was told matches the account afterwards."""
    bm_sandbox.set_faults(
        [
            Fault(mode="server_error", rate=0.08),
            Fault(mode="server_error", rate=0.05, after=True),
            Fault(mode="html_429", rate=0.05),
            Fault(mode="malformed_json", rate=0.05, after=True),
            Fault(mode="html_403", rate=0.02),
        ],
        seed=11,
    )
    picker = random.Random(5)
    listings = bm_sandbox.listings()
    outcomes: Counter[str] = Counter()
    confirmed_quantity: dict[str, int] = {}
    accepted: list[int] = []
    for _ in range(150):
        listing = picker.choice(listings)
        action = picker.choice(["read", "update", "order"])
        try:
            if action == "read":
                assert bm_client.get_listing(listing["id"]).sku == listing["sku"]
            elif action == "update":
                quantity = picker.randint(1, 9)
                bm_client.update_listing(listing["id"], quantity=quantity)
                confirmed_quantity[listing["id"]] = quantity
            else:
                bm_sandbox.set_listing_quantity(listing["sku"], 5)
                confirmed_quantity.pop(listing["id"], None)
                order_id = bm_sandbox.create_buyer_order(listing["sku"])["order_id"]
                bm_client.accept_orderline(order_id, listing["sku"])
                accepted.append(order_id)
            outcomes["ok"] += 1
        except BackMarketError as error:
            assert error.message and error.service == "backmarket"
            outcomes[type(error).__name__] += 1
            if action == "update":
                confirmed_quantity.pop(listing["id"], None)  # unknown outcome: the caller retries later
    injected = Counter(call["fault"] for call in bm_sandbox.calls() if call["fault"])
    assert sum(injected.values()) >= 30 and len(injected) == 4  # the storm really happened
    assert outcomes["ok"] >= 120
    for listing_id, quantity in confirmed_quantity.items():
        assert (
            next(item for item in bm_sandbox.listings() if item["id"] == listing_id)["quantity"] == quantity
        )
    for order_id in accepted:
        assert bm_sandbox.order(order_id)["orderlines"][0]["state"] == LINE_ACCEPTED


def test_fault_rules_are_validated(bm_sandbox) -> None:
    with pytest.raises(ValueError, match="mode"):
        bm_sandbox.set_faults([{"mode": "explode", "count": 1}])
    with pytest.raises(ValueError, match="count"):
        bm_sandbox.set_faults([{"mode": "timeout"}])
    with pytest.raises(ValueError, match="rate"):
        bm_sandbox.set_faults([{"mode": "timeout", "rate": 2}])
