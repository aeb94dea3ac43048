"""The client where the live API differs from its description (issue 15): the date filter format Back
Market accepts, 200 answers to an order change whose body is not the order, and listing counts."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bmsync.backmarket.errors import InvalidRequest, ServerError
from tests.unit.backmarket.conftest import make_response

SINCE = datetime(2026, 3, 1, 8, 30, 0, tzinfo=UTC)
ORDER = {
    "order_id": 7,
    "state": 1,
    "orderlines": [{"id": 70, "state": 1, "listing": "SKU-1", "price": "10.00", "quantity": 1}],
}


def _query(request: requests.PreparedRequest) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(request.url or "").query).items()}


def _orders_refusing(refused: str):
    """Orders list that answers 400 to date filters written in ``refused`` ("rfc3339" or "plain")."""

    def respond(request: requests.PreparedRequest):
        query = _query(request)
        since = query.get("date_modification") or query["date_creation"]
        written = "rfc3339" if "T" in since else "plain"
        if written == refused:
            return make_response(400, {"error": {"code": "invalid-request", "message": "bad date"}})
        return make_response(200, {"count": 1, "next": None, "results": [ORDER]})

    return respond


def test_a_refused_rfc3339_filter_falls_back_to_the_plain_format_and_remembers_it(scripted) -> None:
    client, adapter = scripted(_orders_refusing("rfc3339"))
    assert [order.order_id for order in client.iter_orders(date_modification=SINCE)] == [7]
    sent = [_query(request)["date_modification"] for request in adapter.requests]
    assert sent == ["2026-03-01T08:30:00Z", "2026-03-01 08:30:00"]

    adapter.requests.clear()
    assert [order.order_id for order in client.iter_orders(date_modification=SINCE)] == [7]
    assert [_query(request)["date_modification"] for request in adapter.requests] == ["2026-03-01 08:30:00"]


def test_rfc3339_is_sent_first_and_kept_while_back_market_accepts_it(scripted) -> None:
    client, adapter = scripted(_orders_refusing("plain"))
    for _ in range(2):
        assert [order.order_id for order in client.iter_orders(date_modification=SINCE)] == [7]
    assert [_query(request)["date_modification"] for request in adapter.requests] == [
        "2026-03-01T08:30:00Z",
        "2026-03-01T08:30:00Z",
    ]


def test_a_client_that_learned_the_plain_format_goes_back_when_it_is_refused(scripted) -> None:
    answers = {"refused": "rfc3339"}
    client, adapter = scripted(lambda request: _orders_refusing(answers["refused"])(request))
    list(client.iter_orders(date_creation=SINCE))
    answers["refused"] = "plain"
    adapter.requests.clear()
    assert [order.order_id for order in client.iter_orders(date_creation=SINCE)] == [7]
    assert [_query(request)["date_creation"] for request in adapter.requests] == [
        "2026-03-01 08:30:00",
        "2026-03-01T08:30:00Z",
    ]


def test_a_filter_refused_in_both_formats_is_an_invalid_request(scripted) -> None:
    client, adapter = scripted(
        lambda request: make_response(400, {"error": {"code": "invalid-request", "message": "no"}})
    )
    with pytest.raises(InvalidRequest, match="no"):
        list(client.iter_orders(date_modification=SINCE))
    assert len(adapter.requests) == 2


@pytest.mark.parametrize("body", [{}, {"statuscode": 200, "bodymessage": "ok"}, None, [ORDER]])
def test_an_order_change_answered_with_another_body_is_confirmed_by_rereading(scripted, body) -> None:
    accepted = {**ORDER, "state": 3, "orderlines": [{**ORDER["orderlines"][0], "state": 2}]}

    def respond(request: requests.PreparedRequest):
        if request.method == "POST":
            return make_response(200, body)
        return make_response(200, accepted)

    client, adapter = scripted(respond)
    order = client.accept_orderline(7, "SKU-1")
    assert order.state == 3 and order.orderlines[0].state == 2
    assert [request.method for request in adapter.requests] == ["POST", "GET"]


def test_a_200_without_the_order_and_without_the_change_is_not_taken_for_success(scripted) -> None:
    def respond(request: requests.PreparedRequest):
        return make_response(200, {} if request.method == "POST" else ORDER)

    client, adapter = scripted(respond)
    with pytest.raises(ServerError, match="does not show the change"):
        client.accept_orderline(7, "SKU-1")
    assert [request.method for request in adapter.requests].count("POST") >= 2


def test_listing_counts_per_import_scope_come_from_the_lists_count(scripted) -> None:
    counts = {
        (): 828,
        (("publication_state", "2"),): 1,
        (("max_quantity", "0"), ("publication_state", "3")): 827,
    }

    def respond(request: requests.PreparedRequest):
        query = _query(request)
        assert query["page-size"] == "1"
        key = tuple(sorted((k, v) for k, v in query.items() if k not in ("page", "page-size")))
        return make_response(200, {"count": counts[key], "next": "x", "results": [{}]})

    client, _ = scripted(respond)
    found = client.listing_counts()
    assert (found.all, found.online, found.offline_sold_out) == (828, 1, 827)
