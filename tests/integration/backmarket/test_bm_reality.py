"""The client against the emulator answering as the live API does (issue 15): line totals, several
currencies, sold out at -1, shippers, both date formats, odd success bodies, recorded responses."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from bmsync.backmarket import BackMarketClient
from bmsync.backmarket.errors import InvalidTransition, NotFound
from bmsync.backmarket.models import Listing, Order, market_currency
from bmsync.clock import ManualClock, parse_iso, utc_iso
from bmsync_sandbox.backmarket.account import ApiError
from bmsync_sandbox.backmarket.server import BackMarketSandbox

RECORDED = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures/backmarket/recorded/uk_seller.json").read_text()
)


def _online_sku(sandbox: BackMarketSandbox, minimum: int = 2) -> str:
    return next(item["sku"] for item in sandbox.listings() if item["quantity"] >= minimum)


def _load_recorded(sandbox: BackMarketSandbox) -> None:
    answer = requests.post(f"{sandbox.base_url}/_sandbox/recorded", json=RECORDED, timeout=5)
    assert answer.status_code == 201
    assert answer.json() == {"orders": len(RECORDED["orders"]), "listings": len(RECORDED["listings"])}


def test_a_line_of_two_is_priced_as_the_line_total_with_a_10_percent_fee(
    bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient
) -> None:
    sku = _online_sku(bm_sandbox, minimum=3)
    unit = Decimal(bm_sandbox.listing(sku)["price"])
    other = next(
        item["sku"] for item in bm_sandbox.listings() if item["quantity"] >= 1 and item["sku"] != sku
    )
    created = bm_sandbox.create_buyer_order(sku, 2, more_lines=[(other, 1)])
    order = bm_client.get_order(created["order_id"])
    line = order.orderlines[0]
    assert line.quantity == 2 and line.price == unit * 2
    assert line.orderline_fee == (unit * 2 * Decimal("0.10")).quantize(Decimal("0.01"))
    assert order.price == sum((item.price for item in order.orderlines), Decimal("0"))
    assert line.unit_prices_cents() == [int(unit * 100)] * 2


def test_orders_from_other_markets_come_in_their_currency(
    bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient
) -> None:
    demo = list(bm_client.iter_orders())
    assert {order.currency_code for order in demo} == {"GBP", "EUR"}  # the demo's mix, like a UK seller
    sku = _online_sku(bm_sandbox)
    german = bm_client.get_order(bm_sandbox.create_buyer_order(sku, country_code="de-de")["order_id"])
    assert (german.currency, german.country_code) == ("EUR", "de-de")
    assert german.orderlines[0].currency == "EUR" and german.shipping_address.country == "DE"
    assert german.currency_differs_from("GBP") and not german.currency_differs_from("EUR")
    assert german.price != Decimal(
        bm_sandbox.listing(sku)["price"]
    )  # the market's price, not the pound figure

    bm_sandbox.configure(foreign_market_share=1.0)
    skus = [item["sku"] for item in bm_sandbox.listings() if item["quantity"] >= 1][:3]
    abroad = [bm_client.get_order(bm_sandbox.create_buyer_order(sku)["order_id"]) for sku in skus]
    for order in abroad:
        assert order.country_code != "en-gb" and order.currency == market_currency(order.country_code or "")
        assert order.currency_differs_from("GBP")
    bm_sandbox.configure(foreign_market_share=0.0)
    at_home = bm_sandbox.create_buyer_order(_online_sku(bm_sandbox, minimum=1))
    assert bm_client.get_order(at_home["order_id"]).currency == "GBP"


def test_minus_one_is_sold_out_offline_and_cannot_be_bought_until_restocked(
    bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient
) -> None:
    sku = _online_sku(bm_sandbox)
    bm_sandbox.set_listing_quantity(sku, -1)  # a double checkout
    listing = bm_client.get_listing_by_sku(sku)
    assert listing.quantity == -1 and listing.sold_out and not listing.online
    with pytest.raises(ApiError, match="sold out"):
        bm_sandbox.create_buyer_order(sku)
    restocked = bm_client.update_listing(listing.id, quantity=2)
    assert restocked.online and not restocked.sold_out


def test_a_shipper_back_market_does_not_know_is_refused_like_the_live_api(
    bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient
) -> None:
    sku = _online_sku(bm_sandbox)
    order_id = bm_sandbox.create_buyer_order(sku)["order_id"]
    bm_client.accept_orderline(order_id, sku)
    with pytest.raises(InvalidTransition, match="'Parcelforce' is not a valid choice"):
        bm_client.ship_order(order_id, tracking_number="PF1", shipper="Parcelforce")
    raw = requests.post(
        f"{bm_sandbox.base_url}/ws/orders/{order_id}",
        json={"order_id": order_id, "new_state": 3, "tracking_number": "PF1", "shipper": "DPD uk"},
        headers={
            "Authorization": f"Basic {bm_sandbox.token}",
            "User-Agent": "BM-Acme-bmsync;ops@acme.example",
        },
        timeout=5,
    )
    assert raw.status_code == 400
    assert raw.json()["error"]["code"] == "invalid-shipper" and raw.json()["requestId"]
    shipped = bm_client.ship_order(order_id, tracking_number="PF1", shipper="Parcelforce (Worldwide)")
    assert shipped.shipper == "Parcelforce (Worldwide)" and shipped.state == 9


@pytest.mark.parametrize(("refused", "works"), [("rfc3339", "plain"), ("plain", "rfc3339")])
def test_order_date_filters_fall_back_to_the_format_back_market_accepts(
    empty_sandbox: BackMarketSandbox, make_client, bm_clock: ManualClock, refused: str, works: str
) -> None:
    empty_sandbox.add_listing("SKU-D", 5)
    since = bm_clock.now()
    order_id = empty_sandbox.create_buyer_order("SKU-D")["order_id"]
    empty_sandbox.configure(refuse_date_format=refused)
    client = make_client(empty_sandbox)
    for _ in range(2):
        assert [order.order_id for order in client.iter_orders(date_modification=since)] == [order_id]
    sent = [
        (call["query"]["date_modification"], call["status"])
        for call in empty_sandbox.calls()
        if call["route"] == "GET /ws/orders"
    ]
    formats = ["rfc3339" if "T" in value else "plain" for value, _ in sent]
    first_try = [(refused, 400), (works, 200)] if refused == "rfc3339" else [(works, 200)]
    assert list(zip(formats, [status for _, status in sent], strict=True)) == [*first_try, (works, 200)]
    assert all(parse_iso(value.replace(" ", "T")) == since.replace(microsecond=0) for value, _ in sent)


@pytest.mark.parametrize("body", ["empty", "status", "text"])
def test_an_order_change_answered_with_an_odd_body_still_succeeds(
    bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient, body: str
) -> None:
    sku = _online_sku(bm_sandbox)
    order_id = bm_sandbox.create_buyer_order(sku)["order_id"]
    bm_sandbox.configure(order_update_body=body)
    accepted = bm_client.accept_orderline(order_id, sku)
    assert accepted.order_id == order_id and accepted.orderlines[0].state == 2
    shipped = bm_client.ship_order(order_id, tracking_number="RM1", shipper="Royal Mail")
    assert shipped.state == 9 and shipped.tracking_number == "RM1"
    posts = [call for call in bm_sandbox.calls() if call["route"] == "POST /ws/orders/{order_id}"]
    assert len(posts) == 2  # confirmed by re-reading, never sent twice


def _same(model_value: Any, raw: Any, where: str) -> None:
    """A model field equals the recorded JSON value (money as Decimal, dates as instants, "" = unset)."""
    if isinstance(model_value, BaseModel):
        for key, value in raw.items():
            _same(getattr(model_value, key), value, f"{where}.{key}")
    elif isinstance(model_value, list):
        assert len(model_value) == len(raw), where
        for index, (item, raw_item) in enumerate(zip(model_value, raw, strict=True)):
            _same(item, raw_item, f"{where}[{index}]")
    elif isinstance(model_value, Decimal):
        assert model_value == Decimal(str(raw)), where
    elif isinstance(model_value, datetime):
        assert model_value == parse_iso(raw), where
    elif model_value is None:
        assert raw is None or raw == "", where
    else:
        assert model_value == raw and type(model_value) is type(raw), where


def test_recorded_orders_and_listings_are_served_as_recorded_and_every_one_parses(
    empty_sandbox: BackMarketSandbox, make_client
) -> None:
    _load_recorded(empty_sandbox)
    client = make_client(empty_sandbox)
    orders = {order.order_id: order for order in client.iter_orders()}
    assert set(orders) == {raw["order_id"] for raw in RECORDED["orders"]}
    for raw in RECORDED["orders"]:
        _same(orders[raw["order_id"]], raw, f"order {raw['order_id']}")
        _same(client.get_order(raw["order_id"]), raw, f"order {raw['order_id']}")
        assert empty_sandbox.order(raw["order_id"]) == raw  # the wire sends exactly the recording
    listings = {listing.id: listing for listing in client.iter_listings()}
    assert set(listings) == {raw["id"] for raw in RECORDED["listings"]}
    for raw in RECORDED["listings"]:
        _same(listings[raw["id"]], raw, f"listing {raw['sku']}")
        _same(client.get_listing_by_sku(raw["sku"]), raw, f"listing {raw['sku']}")  # odd SKUs too
    assert Listing.model_validate(RECORDED["listings"][0]) == listings[RECORDED["listings"][0]["id"]]
    assert Order.model_validate(RECORDED["orders"][0]) == orders[RECORDED["orders"][0]["order_id"]]


def test_the_state_machine_budgets_and_faults_act_on_recorded_data(
    empty_sandbox: BackMarketSandbox, make_client, bm_clock: ManualClock
) -> None:
    _load_recorded(empty_sandbox)
    client = make_client(empty_sandbox)
    counts = client.listing_counts()
    recorded = RECORDED["listings"]
    assert counts.all == len(recorded)
    assert counts.online == sum(raw["publication_state"] == 2 for raw in recorded)
    assert counts.offline_sold_out == sum(
        raw["publication_state"] == 3 and raw["quantity"] <= 0 for raw in recorded
    )

    # A recorded shipped line can be refunded after shipping; a shipped one cannot be accepted.
    order = RECORDED["orders"][0]
    line = order["orderlines"][0]
    with pytest.raises(InvalidTransition, match="state 3"):
        client.accept_orderline(order["order_id"], line["listing"])
    bm_clock.advance(60)
    refunded = client.refund_orderline(
        order["order_id"], line["listing"], after_shipping=True, return_reason=12
    )
    assert refunded.orderlines[0].state == 6
    assert refunded.date_modification == bm_clock.now().replace(microsecond=0)
    assert utc_iso(refunded.date_creation) == utc_iso(parse_iso(order["date_creation"]))

    # The -1 listing restocks and goes back online.
    minus_one = next(raw for raw in recorded if raw["quantity"] == -1)
    restocked = client.update_listing(minus_one["id"], quantity=1)
    assert restocked.online and restocked.quantity == 1

    # Faults and budgets act on recorded ids like on any other.
    empty_sandbox.set_faults([{"mode": "server_error", "route": "GET /ws/orders/{order_id}", "count": 1}])
    assert client.get_order(order["order_id"]).order_id == order["order_id"]
    assert [c["status"] for c in empty_sandbox.calls() if c["route"] == "GET /ws/orders/{order_id}"][-2:] == [
        500,
        200,
    ]
    with pytest.raises(NotFound):
        client.get_order(1)
    new_id = empty_sandbox.create_buyer_order(restocked.sku)["order_id"]
    assert new_id > max(raw["order_id"] for raw in RECORDED["orders"])


def test_a_bad_recording_is_refused_whole(empty_sandbox: BackMarketSandbox) -> None:
    listing = dict(RECORDED["listings"][0])
    broken = {"orders": [{"order_id": "x"}], "listings": [listing]}
    answer = requests.post(f"{empty_sandbox.base_url}/_sandbox/recorded", json=broken, timeout=5)
    assert answer.status_code == 400 and "order_id" in answer.json()["error"]["message"]
    assert empty_sandbox.listings() == []
