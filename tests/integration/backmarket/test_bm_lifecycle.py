"""The client against the sandbox: the order lifecycle, listings, batch tasks, filters and pagination."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from bmsync.backmarket import BackMarketClient
from bmsync.backmarket.errors import Blocked, InvalidRequest, InvalidTransition, NotFound, Unauthorized
from bmsync.backmarket.models import (
    LINE_ACCEPTED,
    LINE_CANCELLED,
    LINE_REFUNDED_AFTER_SHIPPING,
    LINE_REFUNDED_BEFORE_SHIPPING,
    LINE_SHIPPED,
    ORDER_ACCEPTED,
    ORDER_FINISHED,
    ORDER_PAID,
)
from bmsync.clock import ManualClock, utc_iso
from bmsync_sandbox import demo_catalogue
from bmsync_sandbox.backmarket.server import BackMarketSandbox

IMEI = "490154203237518"


def _online_sku(sandbox: BackMarketSandbox, minimum: int = 2) -> str:
    return next(item["sku"] for item in sandbox.listings() if item["quantity"] >= minimum)


def test_demo_account_mirrors_the_demo_catalogue(bm_client: BackMarketClient) -> None:
    listings = list(bm_client.iter_listings())
    assert sorted(listing.sku for listing in listings) == sorted(demo_catalogue.listing_skus())
    by_sku = {listing.sku: listing for listing in listings}
    for sku in demo_catalogue.listing_skus():
        assert by_sku[sku].price == demo_catalogue.listing_price(sku)
    assert any(listing.online and listing.quantity > 0 for listing in listings)
    assert any(listing.quantity == 0 and not listing.online for listing in listings)
    assert {order.state for order in bm_client.iter_orders()} == {ORDER_PAID, ORDER_ACCEPTED, ORDER_FINISHED}


def test_paid_accepted_shipped_finished(
    bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient, bm_clock: ManualClock
) -> None:
    sku = _online_sku(bm_sandbox)
    before = bm_sandbox.listing(sku)["quantity"]
    created = bm_sandbox.create_buyer_order(sku)
    order_id = created["order_id"]
    assert bm_sandbox.listing(sku)["quantity"] == before - 1  # Back Market decrements on a sale

    order = bm_client.get_order(order_id)
    assert order.state == ORDER_PAID and order.orderlines[0].listing == sku
    assert order_id in {found.order_id for found in bm_client.iter_orders(state=ORDER_PAID)}

    with pytest.raises(InvalidTransition, match="not accepted yet"):
        bm_client.ship_order(order_id, tracking_number="RM1")

    bm_clock.advance(60)
    accepted = bm_client.accept_orderline(order_id, sku.lower())  # SKUs match case-insensitively
    assert accepted.state == ORDER_ACCEPTED and accepted.orderlines[0].state == LINE_ACCEPTED
    assert accepted.date_modification == bm_clock.now().replace(microsecond=0)

    bm_clock.advance(60)
    shipped = bm_client.ship_order(
        order_id,
        tracking_number="RM123456789GB",
        shipper="Royal Mail",
        tracking_url="https://t.example/RM1",
        imei=IMEI,
    )
    assert shipped.state == ORDER_FINISHED
    assert shipped.orderlines[0].state == LINE_SHIPPED and shipped.orderlines[0].imei == IMEI
    assert (shipped.tracking_number, shipped.shipper) == ("RM123456789GB", "Royal Mail")
    assert shipped.date_shipping == bm_clock.now().replace(microsecond=0)
    assert order_id in {found.order_id for found in bm_client.iter_orders(state=ORDER_FINISHED)}

    with pytest.raises(InvalidTransition, match="state 3"):
        bm_client.accept_orderline(order_id, sku)


def test_cancel_and_refund_paths(bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient) -> None:
    sku = _online_sku(bm_sandbox, minimum=3)
    cancelled = bm_client.cancel_orderline(bm_sandbox.create_buyer_order(sku)["order_id"], sku)
    assert cancelled.state == ORDER_FINISHED and cancelled.orderlines[0].state == LINE_CANCELLED

    order_id = bm_sandbox.create_buyer_order(sku)["order_id"]
    with pytest.raises(InvalidTransition, match="cannot move to state 5"):
        bm_client.refund_orderline(order_id, sku, after_shipping=False)
    bm_client.accept_orderline(order_id, sku)
    refunded = bm_client.refund_orderline(order_id, sku, after_shipping=False)
    assert refunded.state == ORDER_FINISHED and refunded.orderlines[0].state == LINE_REFUNDED_BEFORE_SHIPPING

    order_id = bm_sandbox.create_buyer_order(sku)["order_id"]
    bm_client.accept_orderline(order_id, sku)
    with pytest.raises(InvalidTransition, match="cannot move to state 6"):
        bm_client.refund_orderline(order_id, sku, after_shipping=True)
    bm_client.ship_order(order_id, tracking_number="TRK-9")
    returned = bm_client.refund_orderline(
        order_id, sku, after_shipping=True, return_reason=12, return_message="Parcel did not arrive"
    )
    line = returned.orderlines[0]
    assert (line.state, line.return_reason, line.return_message) == (
        LINE_REFUNDED_AFTER_SHIPPING,
        12,
        "Parcel did not arrive",
    )


def test_a_multi_line_order_ships_every_accepted_line_and_takes_identifiers_per_line(
    bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient
) -> None:
    skus = [item["sku"] for item in bm_sandbox.listings() if item["quantity"] >= 2][:3]
    order_id = bm_sandbox.create_buyer_order(skus[0], more_lines=[(skus[1], 1), (skus[2], 2)])["order_id"]
    bm_client.accept_orderline(order_id, skus[0])
    partly = bm_client.accept_orderline(order_id, skus[1])
    assert partly.state == ORDER_PAID  # a line is still waiting for validation
    bm_client.cancel_orderline(order_id, skus[2])
    with pytest.raises(InvalidTransition, match="one line of quantity 1"):
        bm_client.ship_order(order_id, tracking_number="TRK", imei=IMEI)
    shipped = bm_client.ship_order(order_id, tracking_number="TRK")
    assert [line.state for line in shipped.orderlines] == [LINE_SHIPPED, LINE_SHIPPED, LINE_CANCELLED]
    assert shipped.state == ORDER_FINISHED

    first_line = shipped.orderlines[0].id
    bm_client.set_orderline_identifiers(first_line, serial_number="C02XK1ABJGH5")
    assert bm_sandbox.order(order_id)["orderlines"][0]["serial_number"] == "C02XK1ABJGH5"
    with pytest.raises(InvalidRequest, match="cannot be corrected"):
        bm_client.set_orderline_identifiers(first_line, serial_number="OTHER")
    with pytest.raises(InvalidRequest, match="not a valid IMEI"):
        bm_client.set_orderline_identifiers(shipped.orderlines[1].id, imei="123456789012345")
    with pytest.raises(InvalidRequest, match="state 4"):
        bm_client.set_orderline_identifiers(shipped.orderlines[2].id, imei=IMEI)
    with pytest.raises(NotFound):
        bm_client.set_orderline_identifiers(999, imei=IMEI)


def test_order_filters_dates_in_both_formats_country_and_hidden_states(
    empty_sandbox: BackMarketSandbox, make_client, bm_clock: ManualClock
) -> None:
    client = make_client(empty_sandbox)
    empty_sandbox.add_listing("SKU-A", 50)
    first = empty_sandbox.create_buyer_order("SKU-A")["order_id"]
    bm_clock.advance(3600)
    cutoff = bm_clock.now()
    second = empty_sandbox.create_buyer_order("SKU-A", country_code="fr-fr")["order_id"]
    hidden = [empty_sandbox.create_buyer_order("SKU-A", state=state)["order_id"] for state in (0, 8)]
    pending = empty_sandbox.create_buyer_order("SKU-A", state=10)["order_id"]
    bm_clock.advance(3600)
    client.accept_orderline(first, "SKU-A")

    assert {order.order_id for order in client.iter_orders()} == {first, second, pending}
    assert {order.order_id for order in client.iter_orders(date_creation=cutoff)} == {second, pending}
    assert {
        order.order_id for order in client.iter_orders(date_modification=cutoff + timedelta(minutes=30))
    } == {first}
    assert {order.order_id for order in client.iter_orders(country_code="fr-fr")} == {second}
    assert {order.order_id for order in client.iter_orders(state=ORDER_ACCEPTED)} == {first}
    assert client.get_order(hidden[0]).state == 0  # hidden from the list, not from a direct read

    # The space-separated form that older integrations send works the same as RFC 3339.
    spaced = cutoff.strftime("%Y-%m-%d %H:%M:%S")
    response = requests.get(
        f"{empty_sandbox.base_url}/ws/orders",
        params={"date_creation": spaced},
        headers={
            "Authorization": f"Basic {empty_sandbox.token}",
            "User-Agent": "BM-Acme-bmsync;ops@acme.example",
        },
        timeout=5,
    )
    assert {order["order_id"] for order in response.json()["results"]} == {second, pending}
    refused = requests.get(
        f"{empty_sandbox.base_url}/ws/orders",
        params={"date_creation": "yesterday"},
        headers={
            "Authorization": f"Basic {empty_sandbox.token}",
            "User-Agent": "BM-Acme-bmsync;ops@acme.example",
        },
        timeout=5,
    )
    assert refused.status_code == 400 and "date_creation" in refused.json()["error"]["message"]

    # A paid pending order appears once payment clears.
    empty_sandbox.mark_order_paid(pending)
    assert client.get_order(pending).state == ORDER_PAID
    assert utc_iso(client.get_order(pending).date_payment) == utc_iso(bm_clock.now())


def test_pagination_default_10_max_50_with_absolute_next_urls(
    empty_sandbox: BackMarketSandbox, make_client
) -> None:
    client = make_client(empty_sandbox)
    for number in range(120):
        empty_sandbox.add_listing(f"SKU-{number:03d}", number % 4)
    headers = {
        "Authorization": f"Basic {empty_sandbox.token}",
        "User-Agent": "BM-Acme-bmsync;ops@acme.example",
    }
    default = requests.get(f"{empty_sandbox.base_url}/ws/listings", headers=headers, timeout=5).json()
    assert default["count"] == 120 and len(default["results"]) == 10 and default["previous"] is None
    assert (
        default["next"].startswith(f"{empty_sandbox.base_url}/ws/listings?") and "page=2" in default["next"]
    )
    following = requests.get(default["next"], headers=headers, timeout=5).json()
    assert following["results"][0]["sku"] == "SKU-010" and following["previous"]
    big = requests.get(
        f"{empty_sandbox.base_url}/ws/listings?page-size=500", headers=headers, timeout=5
    ).json()
    assert len(big["results"]) == 50

    empty_sandbox.clear_calls()
    assert len(list(client.iter_listings())) == 120
    assert [call["query"]["page"] for call in empty_sandbox.calls()] == ["1", "2", "3"]
    assert {listing.quantity for listing in client.iter_listings(min_quantity=2, max_quantity=2)} == {2}
    assert len(list(client.iter_listings(min_quantity=1))) == 90
    assert len(list(client.iter_listings(publication_state=3))) == 30  # quantity 0 is offline


def test_listing_reads_updates_and_offline_at_zero(
    bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient
) -> None:
    sku = _online_sku(bm_sandbox)
    listing = bm_client.get_listing_by_sku(sku.lower())
    assert listing.sku == sku
    assert bm_client.get_listing(listing.id).sku == sku
    assert bm_client.get_listing(listing.listing_id).sku == sku  # type: ignore[arg-type]

    updated = bm_client.update_listing(listing.id, quantity=0)
    assert (updated.quantity, updated.publication_state, updated.price) == (0, 3, listing.price)
    restocked = bm_client.update_listing(listing.listing_id, quantity=4)  # type: ignore[arg-type]
    assert (restocked.quantity, restocked.publication_state) == (4, 2)
    offline = bm_client.update_listing(listing.id, pub_state=3)
    assert offline.publication_state == 3
    assert (
        bm_client.update_listing(listing.id, quantity=5).publication_state == 3
    )  # the seller's choice stays
    assert bm_client.update_listing(listing.id, pub_state=2, comment="Like new").comment == "Like new"

    with pytest.raises(InvalidRequest, match="cannot be changed"):
        bm_client.update_listing(listing.id, grade="FAIR")
    with pytest.raises(NotFound):
        bm_client.get_listing_by_sku("NO-SUCH-SKU")
    with pytest.raises(NotFound):
        bm_client.get_listing("00000000-0000-4000-8000-000000000000")

    # Behind bmsync's back, then read back.
    bm_sandbox.set_listing_quantity(sku, 9)
    assert bm_client.get_listing(listing.id).quantity == 9


def test_sku_uniqueness_is_case_insensitive(empty_sandbox: BackMarketSandbox) -> None:
    empty_sandbox.add_listing("Sku-Z", 1)
    with pytest.raises(Exception, match="already used"):
        empty_sandbox.add_listing("SKU-z", 1)


def test_patch_on_a_listing_is_refused(bm_sandbox: BackMarketSandbox) -> None:
    listing = bm_sandbox.listings()[0]
    response = requests.patch(
        f"{bm_sandbox.base_url}/ws/listings/{listing['id']}",
        json={"quantity": 1},
        headers={
            "Authorization": f"Basic {bm_sandbox.token}",
            "User-Agent": "BM-Acme-bmsync;ops@acme.example",
        },
        timeout=5,
    )
    assert response.status_code == 405


def test_batch_csv_task_completes_after_the_configured_delay(
    bm_sandbox: BackMarketSandbox, bm_client: BackMarketClient, bm_clock: ManualClock
) -> None:
    bm_sandbox.configure(task_delay_seconds=120)
    skus = [item["sku"] for item in bm_sandbox.listings()[:2]]
    csv_text = f"sku,quantity,price\n{skus[0]},7,111.00\n{skus[1].lower()},0,\nUNKNOWN-SKU,1,\n"
    before = bm_client.sku_updates_remaining()
    task_id = bm_client.submit_batch(csv_text)
    assert bm_client.sku_updates_remaining() == before - 3
    assert bm_client.get_task(task_id).pending
    assert bm_sandbox.listing(skus[0])["quantity"] != 7  # not real time

    started = bm_clock.monotonic()
    task = bm_client.wait_for_task(task_id, timeout_seconds=600)
    assert task.done and 120 <= bm_clock.monotonic() - started < 600
    assert set(task.result["product_success"]) == {skus[0], skus[1].lower()}
    assert set(task.result["product_errors"]) == {"UNKNOWN-SKU"}
    assert bm_sandbox.listing(skus[0])["quantity"] == 7 and bm_sandbox.listing(skus[0])["price"] == "111.00"
    assert bm_sandbox.listing(skus[1])["publication_state"] == 3

    bm_sandbox.configure(task_delay_seconds=10_000)
    slow = bm_client.submit_batch(f"sku,quantity\n{skus[0]},1\n")
    assert bm_client.wait_for_task(slow, timeout_seconds=60).pending  # still pending at the timeout, not lost
    with pytest.raises(NotFound):
        bm_client.get_task(424242)


def test_wrong_token_and_missing_user_agent(bm_sandbox: BackMarketSandbox, make_client) -> None:
    wrong = make_client(bm_sandbox, token_provider=lambda force_refresh: "not-the-token-123")
    with pytest.raises(Unauthorized) as caught:
        wrong.get_order(1)
    assert caught.value.needs_attention and caught.value.status == 401

    response = requests.get(
        f"{bm_sandbox.base_url}/ws/orders", headers={"Authorization": "Basic x"}, timeout=5
    )
    assert response.status_code == 403 and "text/html" in response.headers["Content-Type"]
    assert response.headers["cf-ray"]

    anonymous = make_client(bm_sandbox, user_agent="python-requests/2.32")
    with pytest.raises(Blocked) as blocked:
        anonymous.get_order(1)
    assert blocked.value.cf_ray and blocked.value.needs_attention

    body = requests.get(
        f"{bm_sandbox.base_url}/ws/orders", headers={"User-Agent": "BM-A-b;c@d.e"}, timeout=5
    ).json()
    assert body["error"]["code"] == "unauthorized" and body["error"]["message"]


def test_control_api_over_http(empty_sandbox: BackMarketSandbox) -> None:
    control = f"{empty_sandbox.base_url}/_sandbox"
    listing = requests.post(
        f"{control}/listings", json={"sku": "CTRL-1", "quantity": 3, "price": "10.50"}, timeout=5
    )
    assert listing.status_code == 201 and listing.json()["price"] == "10.50"
    order = requests.post(f"{control}/orders", json={"sku": "CTRL-1", "quantity": 2}, timeout=5).json()
    assert order["state"] == 1 and order["orderlines"][0]["quantity"] == 2
    assert requests.get(f"{control}/listings/CTRL-1", timeout=5).json()["quantity"] == 1
    assert (
        requests.put(f"{control}/listings/CTRL-1/quantity", json={"quantity": 8}, timeout=5).json()[
            "quantity"
        ]
        == 8
    )
    assert (
        requests.get(f"{control}/orders/{order['order_id']}", timeout=5).json()["order_id"]
        == order["order_id"]
    )
    faults = requests.put(
        f"{control}/faults", json={"faults": [{"mode": "server_error", "count": 1}]}, timeout=5
    )
    assert faults.json()["faults"][0]["mode"] == "server_error"
    bad = requests.put(f"{control}/faults", json={"faults": [{"mode": "nonsense", "count": 1}]}, timeout=5)
    assert bad.status_code == 400 and "mode" in bad.json()["error"]["message"]
    assert (
        requests.put(f"{control}/budgets", json={"requests_per_window": 50}, timeout=5).json()[
            "requests_per_window"
        ]
        == 50
    )
    assert (
        requests.put(f"{control}/config", json={"task_delay_seconds": 5}, timeout=5).json()[
            "task_delay_seconds"
        ]
        == 5
    )
    requests.get(f"{empty_sandbox.base_url}/ws/orders", timeout=5)
    calls = requests.get(f"{control}/calls", timeout=5).json()
    assert (
        calls[-1]["route"] == "GET /ws/orders"
        and calls[-1]["status"] == 500
        and calls[-1]["fault"] == "server_error"
    )
    assert requests.delete(f"{control}/calls", timeout=5).json() == []
    assert requests.post(f"{control}/orders", json={"sku": "NOPE"}, timeout=5).status_code == 404
    assert requests.post(f"{control}/reset", json={"demo": True}, timeout=5).json() == {"reset": True}
    assert len(empty_sandbox.listings()) == len(demo_catalogue.listing_skus())
