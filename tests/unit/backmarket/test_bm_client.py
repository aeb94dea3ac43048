"""The client's wire behaviour: headers, pagination, token refresh, error shapes, retry safety."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bmsync.backmarket.errors import (
    BackMarketError,
    Blocked,
    Forbidden,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
)
from bmsync.errors import IntegrationError
from tests.unit.backmarket.conftest import TOKEN, make_response


def _query(request: requests.PreparedRequest) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(request.url or "").query).items()}


def _order(order_id: int, state: int = 1, lines: list[dict] | None = None) -> dict:
    return {
        "order_id": order_id,
        "state": state,
        "orderlines": lines
        if lines is not None
        else [{"id": order_id * 10, "state": 1, "listing": "SKU-1", "price": "1.00"}],
    }


def test_every_call_carries_backmarkets_headers_and_timeouts(scripted) -> None:
    client, adapter = scripted(lambda request: make_response(200, _order(1)))
    client.get_order(1)
    request = adapter.requests[0]
    assert request.headers["Authorization"] == f"Basic {TOKEN}"  # as issued, not base64'd again
    assert request.headers["Accept-Language"] == "fr-fr"
    assert request.headers["User-Agent"] == "BM-Acme-bmsync;ops@acme.example"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert adapter.timeouts[0] == (3.05, 20.0)
    assert request.url == "https://bm.test/ws/orders/1"


def test_pagination_uses_page_size_50_counts_pages_and_deduplicates(scripted) -> None:
    pages = {
        1: {
            "count": 5,
            "next": "https://elsewhere.test/bm/merchants/users?page=2",
            "results": [_order(1), _order(2)],
        },
        2: {"count": 5, "next": "x", "results": [_order(2), _order(3)]},  # 2 repeats across pages
        3: {"count": 5, "next": None, "results": [_order(4)]},
    }

    def responder(request):
        query = _query(request)
        assert query["page-size"] == "50"
        assert query["state"] == "1"
        assert query["date_modification"] == "2026-01-05T09:00:00Z"
        return make_response(200, pages[int(query["page"])])

    client, adapter = scripted(responder)
    orders = list(client.iter_orders(state=1, date_modification=datetime(2026, 1, 5, 9, tzinfo=UTC)))
    assert [order.order_id for order in orders] == [1, 2, 3, 4]
    assert all(
        urlsplit(request.url).netloc == "bm.test" for request in adapter.requests
    )  # next not followed off-host
    assert len(adapter.requests) == 3


def test_pagination_stops_on_an_empty_page_and_on_a_page_that_repeats(scripted) -> None:
    client, adapter = scripted(
        lambda request: make_response(200, {"count": 99, "next": "more", "results": [_order(7)]})
    )
    assert [order.order_id for order in client.iter_orders()] == [7]
    assert len(adapter.requests) == 2  # the second page added nothing new: stop, don't loop forever

    client, adapter = scripted(
        lambda request: make_response(200, {"count": 3, "next": "more", "results": []})
    )
    assert list(client.iter_listings()) == []
    assert len(adapter.requests) == 1


def test_401_asks_for_a_fresh_token_once_and_retries_only_if_it_changed(scripted) -> None:
    def responder(request):
        if request.headers["Authorization"] == "Basic new-token-1234":
            return make_response(200, _order(1))
        return make_response(401, {"error": {"code": "unauthorized", "message": "Invalid token"}})

    client, adapter = scripted(responder, tokens=["old-token-1234", "new-token-1234"])
    assert client.get_order(1).order_id == 1
    assert client.token_requests == [False, True]
    assert len(adapter.requests) == 2

    client, adapter = scripted(responder, tokens=["same-token-999"])
    with pytest.raises(Unauthorized) as caught:
        client.get_order(1)
    assert client.token_requests == [False, True]
    assert len(adapter.requests) == 1  # the same token is never retried
    error = caught.value
    assert error.needs_attention and not error.retryable and error.service == "backmarket"
    assert "Recover my token" in error.action
    assert "same-token-999" not in error.message


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type", "expected_text"),
    [
        (
            404,
            {"error": {"code": "not-found", "message": "Order not found"}, "requestId": "r1"},
            None,
            NotFound,
            "Order not found (not-found)",
        ),
        (
            400,
            {"errors": [{"code": "invalid", "message": "bad sku"}, {"detail": "and more"}]},
            None,
            InvalidTransition,
            "bad sku (invalid); and more",
        ),
        (400, "not a valid state", None, InvalidTransition, "not a valid state"),
        (
            403,
            {"error": {"code": "not-merchant", "message": "Authenticated user is not a merchant"}},
            None,
            Forbidden,
            "not a merchant",
        ),
        (
            403,
            {"errors": [{"code": "bot-need-challenge", "message": "challenge"}]},
            {"cf-ray": "8a1b2c3d4e"},
            Blocked,
            "bot challenge",
        ),
    ],
)
def test_error_bodies_of_every_shape_become_readable_typed_errors(
    scripted, status, body, headers, error_type, expected_text
) -> None:
    client, _ = scripted(
        lambda request: make_response(
            status, body, headers={"Content-Type": "application/json", **(headers or {})}
        )
    )
    with pytest.raises(error_type) as caught:
        client.accept_orderline(5, "SKU-1")
    assert expected_text in caught.value.message
    assert caught.value.status == status
    assert isinstance(caught.value, BackMarketError) and isinstance(caught.value, IntegrationError)
    if isinstance(caught.value, Blocked):
        assert caught.value.cf_ray == "8a1b2c3d4e" and "8a1b2c3d4e" in caught.value.action


def test_a_bare_string_400_on_a_listing_write_is_an_invalid_request(scripted) -> None:
    client, _ = scripted(lambda request: make_response(400, "parameter catalog not found"))
    with pytest.raises(InvalidRequest, match="parameter catalog not found"):
        client.submit_batch("sku,quantity\nA,1\n")


def test_firewall_html_backs_off_at_least_10s_then_reports_blocked_with_cf_ray(scripted, unit_clock) -> None:
    page = "<!DOCTYPE html><html><body>Sorry, you have been blocked</body></html>"
    client, adapter = scripted(
        lambda request: make_response(
            403, text=page, headers={"Content-Type": "text/html", "cf-ray": "77aa88bb"}
        )
    )
    with pytest.raises(Blocked) as caught:
        client.get_order(1)
    assert caught.value.cf_ray == "77aa88bb"
    assert "HTML page" in caught.value.message and "<html" not in caught.value.message
    assert len(adapter.requests) == 6  # bounded: first try + 5 retries
    assert unit_clock.monotonic() >= 5 * 10


def test_429_waits_and_succeeds(scripted, unit_clock) -> None:
    answers = [
        make_response(429, {"error": {"code": "throttled", "message": "Too many"}}),
        make_response(200, _order(3)),
    ]
    client, adapter = scripted(lambda request: answers.pop(0))
    assert client.get_order(3).order_id == 3
    assert len(adapter.requests) == 2
    assert unit_clock.monotonic() >= 10


def test_429_that_never_ends_is_rate_limited(scripted) -> None:
    client, adapter = scripted(lambda request: make_response(429, text="", headers={}))
    with pytest.raises(RateLimited) as caught:
        client.get_listing("abc")
    assert caught.value.retryable and len(adapter.requests) == 6


def test_gets_retry_5xx_and_timeouts_with_backoff_then_give_up(scripted, unit_clock) -> None:
    answers: list = [
        requests.ReadTimeout("slow"),
        make_response(502, text="<html>bad gateway</html>", headers={"Content-Type": "text/html"}),
        make_response(200, _order(9)),
    ]
    client, adapter = scripted(lambda request: answers.pop(0))
    assert client.get_order(9).order_id == 9
    assert len(adapter.requests) == 3 and unit_clock.monotonic() > 0

    client, adapter = scripted(
        lambda request: make_response(503, {"error": {"code": "down", "message": "maintenance"}})
    )
    with pytest.raises(ServerError, match="maintenance") as caught:
        client.get_order(9)
    assert caught.value.retryable and len(adapter.requests) == 4


def test_an_order_update_with_an_unclear_outcome_rereads_the_order_instead_of_resending(scripted) -> None:
    calls: list[str] = []

    def responder(request):
        calls.append(request.method or "")
        if request.method == "POST":
            return requests.ConnectionError("connection reset")
        # Back Market did apply the acceptance before the connection dropped.
        return make_response(200, _order(4, 3, [{"id": 40, "state": 2, "listing": "SKU-1", "price": "1.00"}]))

    client, _ = scripted(responder)
    order = client.accept_orderline(4, "SKU-1")
    assert order.orderlines[0].state == 2
    assert calls == ["POST", "GET"]  # never a second POST


def test_an_order_update_that_did_not_happen_is_sent_again_after_the_reread(scripted) -> None:
    calls: list[str] = []
    posted: list[dict] = []

    def responder(request):
        calls.append(request.method or "")
        if request.method == "POST":
            posted.append(json.loads(request.body))
            if len(posted) == 1:
                return make_response(500, text="")
            return make_response(
                200, _order(4, 9, [{"id": 40, "state": 4, "listing": "SKU-1", "price": "1.00"}])
            )
        return make_response(200, _order(4))

    client, _ = scripted(responder)
    order = client.cancel_orderline(4, "SKU-1")
    assert order.orderlines[0].state == 4
    assert calls == ["POST", "GET", "POST"]
    assert posted[0] == {"order_id": 4, "new_state": 4, "sku": "SKU-1"}


def test_a_connect_timeout_is_retried_even_for_a_batch_because_nothing_was_sent(scripted) -> None:
    answers: list = [
        requests.ConnectTimeout("no route"),
        make_response(200, {"bodymessage": 77, "statuscode": 200}),
    ]
    client, adapter = scripted(lambda request: answers.pop(0))
    assert client.submit_batch("sku,quantity\nA,1\n") == "77"
    assert len(adapter.requests) == 2


def test_a_batch_submission_is_never_repeated_after_an_unclear_failure(scripted) -> None:
    client, adapter = scripted(lambda request: requests.ReadTimeout("slow"))
    with pytest.raises(ServerError, match="did not answer"):
        client.submit_batch("sku,quantity\nA,1\n")
    assert len(adapter.requests) == 1


def test_request_bodies_follow_the_reference(scripted) -> None:
    bodies: list[dict] = []

    def responder(request):
        if request.method != "GET":
            bodies.append(json.loads(request.body))
        if "listings" in (request.url or ""):
            return make_response(200, {"id": "u1", "sku": "A", "quantity": 0, "statuscode": 200})
        if request.method == "PATCH":
            return make_response(200, {"imei": "490154203237518"})
        return make_response(
            200,
            _order(8, 9, [{"id": 80, "state": 3, "listing": "SKU-1", "price": "1.00"}])
            | {"tracking_number": "TRK"},
        )

    client, _ = scripted(responder)
    client.ship_order(
        8, tracking_number=" TRK ", shipper="Royal Mail", date_shipping=datetime(2026, 2, 1, tzinfo=UTC)
    )
    client.refund_orderline(8, "SKU-1", after_shipping=True, return_reason=12, return_message="lost")
    client.refund_orderline(8, "SKU-1", after_shipping=False)
    client.set_orderline_identifiers(80, imei="490154203237518")
    client.update_listing("u1", quantity=0, pub_state=3)
    assert bodies == [
        {
            "order_id": 8,
            "new_state": 3,
            "tracking_number": "TRK",
            "shipper": "Royal Mail",
            "date_shipping": "2026-02-01T00:00:00Z",
        },
        {"order_id": 8, "new_state": 6, "sku": "SKU-1", "return_reason": 12, "return_message": "lost"},
        {"order_id": 8, "new_state": 5, "sku": "SKU-1"},
        {"imei": "490154203237518"},
        {"quantity": 0, "pub_state": 3},
    ]


def test_bad_arguments_are_refused_before_any_call(scripted) -> None:
    client, adapter = scripted(lambda request: make_response(200, {}))
    with pytest.raises(InvalidRequest):
        client.ship_order(1, tracking_number="  ")
    with pytest.raises(InvalidRequest):
        client.update_listing("u1", quantity=-1)
    with pytest.raises(InvalidRequest):
        client.set_orderline_identifiers(1)
    with pytest.raises(InvalidRequest):
        client.submit_batch("sku,quantity\n")
    assert adapter.requests == []


def test_a_missing_secret_is_reported_as_a_token_problem(scripted) -> None:
    from bmsync.backmarket import BackMarketClient
    from bmsync.clock import ManualClock
    from bmsync.secrets import SecretMissing

    def provider(force_refresh: bool) -> str:
        raise SecretMissing("secret 'x' is not set")

    client = BackMarketClient(
        base_url="https://bm.test",
        token_provider=provider,
        market="en-gb",
        user_agent="BM-A-b;c@d.e",
        clock=ManualClock(),
    )
    with pytest.raises(Unauthorized, match="No Back Market token is saved") as caught:
        client.get_order(1)
    assert caught.value.needs_attention


def test_a_body_that_is_not_a_valid_model_is_a_server_error_naming_the_field(scripted) -> None:
    client, _ = scripted(lambda request: make_response(200, {"order_id": "not-a-number", "state": 1}))
    with pytest.raises(ServerError, match="order_id"):
        client.get_order(1)


def test_backmarkets_own_words_are_redacted_before_they_reach_a_message(scripted) -> None:
    body = {"error": {"code": "bad", "message": "Basic abc123secret refused for jane.doe@example.com"}}
    client, _ = scripted(lambda request: make_response(400, body))
    with pytest.raises(InvalidTransition) as caught:
        client.accept_orderline(1, "SKU-1")
    assert "abc123secret" not in caught.value.message
    assert "jane.doe@example.com" not in caught.value.message
    assert "refused" in caught.value.message


def test_an_echoed_token_is_scrubbed_from_messages(scripted) -> None:
    client, _ = scripted(lambda request: make_response(404, f"no such thing for {TOKEN}"))
    with pytest.raises(NotFound) as caught:
        client.get_order(1)
    assert TOKEN not in caught.value.message
