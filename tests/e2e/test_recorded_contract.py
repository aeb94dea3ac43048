"""Contract tests on a real UK seller's recorded Back Market responses (issue 15).

The fixture (``tests/fixtures/backmarket/recorded/uk_seller.json``) is loaded into the Back Market
emulator through ``POST /_sandbox/recorded`` and every order and listing goes through bmsync's real
handlers: the money must add up in each order's own currency, the currency must be where the
WholeCell contract puts it (the order's notes: the adopted contract has no currency field), and the
sold-out listings (one at -1) must come back when stock arrives.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from bmsync.catalog import by_name
from bmsync.store.listings_repo import ListingsRepository
from bmsync_sandbox.runtime.invoker import Invoker
from bmsync_sandbox.runtime.scheduler import scheduled_event
from tests.e2e.orders_sandbox import CONNECTION, OrdersSystem, orders_system

FIXTURE = Path(__file__).parents[1] / "fixtures" / "backmarket" / "recorded" / "uk_seller.json"
RECORDED: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
ACCEPTED_ORDER, ACCEPTED_LINE = 3, 2


def _as_accepted(order: dict[str, Any]) -> dict[str, Any]:
    """The recorded order as it was before it shipped.

    Every recorded order is finished (shipped, one line refunded after), and order_import never
    imports an order that finished before its first run. To run each through the whole path
    (import, status follow, shipment export) it is loaded as it stood when the seller had accepted
    it: same ids, lines, prices, currencies and markets; only the states and the tracking are those
    of before shipping.
    """
    accepted = copy.deepcopy(order)
    accepted.update(state=ACCEPTED_ORDER, tracking_number="", tracking_url="", date_shipping=None)
    for line in accepted["orderlines"]:
        line["state"] = ACCEPTED_LINE
    return accepted


def _line_total_cents(order: dict[str, Any]) -> int:
    return sum(int(Decimal(line["price"]) * 100) for line in order["orderlines"])


@pytest.fixture
def system(tmp_path: Path) -> Iterator[OrdersSystem]:
    with orders_system(tmp_path) as running:
        running.backmarket.reset(demo=False)  # only the recorded account
        yield running


def _load(system: OrdersSystem, orders: list[dict[str, Any]], listings: list[dict[str, Any]]) -> None:
    response = requests.post(
        f"{system.backmarket.base_url}/_sandbox/recorded",
        json={"orders": orders, "listings": listings},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"orders": len(orders), "listings": len(listings)}


def test_every_recorded_order_adds_up_in_its_own_currency_through_the_whole_path(
    system: OrdersSystem,
) -> None:
    orders = RECORDED["orders"]
    _load(system, [_as_accepted(order) for order in orders], [])

    run = system.import_orders()

    assert run.status == "succeeded" and run.counts["imported"] == len(orders)
    foreign = [order for order in orders if order["currency"] != "GBP"]
    assert run.counts["other_currency"] == len(foreign) == 5
    for order in orders:
        order_id, currency = order["order_id"], order["currency"]
        wholecell = system.wholecell_order(order_id)
        # Σ WholeCell unit price x quantity = Σ Back Market line prices (line totals), exactly.
        booked = sum(item["price"] * item["quantity"] for item in wholecell["order_items"])
        assert booked == _line_total_cents(order), order_id
        assert sum(item["quantity"] for item in wholecell["order_items"]) == sum(
            line["quantity"] for line in order["orderlines"]
        )
        # The currency is in the notes (the contract's place for it), never converted.
        assert f"prices in {currency}, market {order['country_code']}" in wholecell["notes"]
        record = system.record(order_id)
        assert (record.currency, record.market) == (currency, order["country_code"])
        assert record.currency_mismatch is (currency != "GBP")
        assert ("NOT in the account currency GBP" in wholecell["notes"]) is record.currency_mismatch
    # Two MacBook Air on one line at 894.00: 447.00 each, not 894.00 each.
    [macbooks] = system.wholecell_order(55709033)["order_items"]
    assert (macbooks["quantity"], macbooks["price"]) == (2, 44700)
    assert {alert_id for alert_id in system.alerts() if alert_id.startswith("order-currency-")} == {
        "order-currency-EUR"
    }

    # Each ships with the carrier it really used; the stream carries it to shipment_export.
    for order in orders:
        wholecell_id = system.record(order["order_id"]).wholecell_order_id
        assert wholecell_id is not None
        system.wholecell.add_shipment(wholecell_id, order["shipper"], order["tracking_number"])
    system.watch()

    for order in orders:
        record = system.record(order["order_id"])
        assert record.export_state == "sent", (order["order_id"], record.export_reason)
        shipped = system.backmarket.order(order["order_id"])
        assert shipped["state"] == 9 and shipped["tracking_number"] == order["tracking_number"]
        assert shipped["shipper"] == order["shipper"]  # Royal Mail, DHL Express, DPD UK as Back Market knows

    # WholeCell's status follows Back Market's: every order shipped.
    follow = system.import_orders()
    assert follow.status == "succeeded"
    for order in orders:
        assert system.wholecell_order(order["order_id"])["status"] == "Shipped"
        assert system.record(order["order_id"]).bm_status == "shipped"


def test_every_recorded_listing_is_imported_and_sold_out_ones_come_back_with_stock(
    system: OrdersSystem,
) -> None:
    listings = RECORDED["listings"]
    _load(system, [], listings)
    minus_one = next(listing for listing in listings if listing["quantity"] < 0)
    odd = [listing["sku"] for listing in listings if " " in listing["sku"] or "," in listing["sku"]]
    restocked = [minus_one["sku"], *odd]
    for sku in restocked:
        variation = system.wholecell.add_variation(sku=sku, grade="B")
        system.wholecell.receive_units(variation["id"], 2)
    system.configure(quantity_sync_enabled=True)

    run = system.import_listings()

    # Online only (the default) still brings the listings that went offline by selling out.
    assert run.status == "succeeded" and run.counts["seen"] == len(listings) == 29
    stored = {listing.sku: listing for listing in ListingsRepository(CONNECTION).all()}
    assert set(stored) == {listing["sku"] for listing in listings}
    assert stored[minus_one["sku"]].bm_quantity == -1
    assert all(stored[sku].connected for sku in restocked)

    system.watch()  # WholeCell's stock into the mirror
    quantity_sync = Invoker(system.clock, specs=(by_name("quantity_sync"),))
    invocation = quantity_sync.invoke(
        "quantity_sync", scheduled_event("quantity_sync", system.clock.now(), "drift_check")
    )
    assert invocation.ok, invocation.stack
    assert invocation.result["runs"][CONNECTION]["status"] == "succeeded"

    for sku in restocked:  # the -1 and the odd SKUs: back online with WholeCell's two units
        shown = system.backmarket.listing(sku)
        assert (shown["quantity"], shown["publication_state"]) == (2, 2), sku
    # Listings WholeCell has no stock for are left as Back Market shows them (sold out stays sold out).
    untouched = [listing for listing in listings if listing["sku"] not in restocked]
    for listing in untouched:
        assert system.backmarket.listing(listing["sku"])["quantity"] == listing["quantity"]
