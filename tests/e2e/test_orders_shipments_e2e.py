"""Shipments WholeCell -> Back Market end to end: wholecell_watch notices, the stream carries it to
shipment_export, which sends it only once Back Market shows the order validated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.orders_sandbox import OrdersSystem, orders_system
from tests.e2e.test_orders_import_e2e import _a_listed_sku

IMEI = "356938035643809"  # 15 digits with a valid check digit


@pytest.fixture
def system(tmp_path: Path) -> Iterator[OrdersSystem]:
    with orders_system(tmp_path) as running:
        running.import_orders()  # the demo's open orders are in; tests start from a quiet account
        yield running


def _commit_unit(system: OrdersSystem, order_id: int, sku: str, esn: str) -> None:
    wholecell_id = system.record(order_id).wholecell_order_id
    assert wholecell_id is not None
    account = system.wholecell.account
    with account.lock:
        [unit] = account.receive_units(sku, 1, esns=[esn])
    system.wholecell.commit_unit(wholecell_id, unit.id)


def _ship_in_wholecell(system: OrdersSystem, order_id: int, carrier: str, tracking: str, url=None) -> None:
    wholecell_id = system.record(order_id).wholecell_order_id
    assert wholecell_id is not None
    system.wholecell.add_shipment(wholecell_id, carrier, tracking, url)


def test_shipment_before_validation_is_held_then_sent_with_the_imei(system: OrdersSystem) -> None:
    sku = _a_listed_sku(system)
    order = system.backmarket.create_buyer_order(sku)
    order_id = order["order_id"]
    system.import_orders()
    _commit_unit(system, order_id, sku, IMEI)
    _ship_in_wholecell(system, order_id, "DHL", "JD014600006281230", "https://dhl.example/JD014600006281230")

    system.watch()

    record = system.record(order_id)
    assert record.export_state == "held_not_validated"
    assert record.export_reason.startswith(f"shipment held: validate order {order_id} on Back Market first")
    assert system.backmarket.order(order_id)["tracking_number"] == ""
    assert system.backmarket_calls("POST", f"/ws/orders/{order_id}") == []

    system.seller().accept_orderline(order_id, sku)  # the seller validates on Back Market
    system.import_orders()  # sees the validation: the held shipment goes out by itself

    shipped = system.backmarket.order(order_id)
    assert shipped["state"] == 9 and shipped["orderlines"][0]["state"] == 3
    assert shipped["tracking_number"] == "JD014600006281230"
    assert shipped["tracking_url"] == "https://dhl.example/JD014600006281230"
    assert shipped["shipper"] == "DHL Express"  # WholeCell's carrier mapped to Back Market's name
    assert shipped["orderlines"][0]["imei"] == IMEI
    record = system.record(order_id)
    assert record.export_state == "sent" and "sent to Back Market" in record.export_reason

    # Sent once: more polls and runs send nothing again; WholeCell's status follows to Shipped.
    system.watch()
    system.import_orders()
    assert len(system.backmarket_calls("POST", f"/ws/orders/{order_id}")) == 2  # accept, ship
    assert system.wholecell_order(order_id)["status"] == "Shipped"


def test_a_shipstation_shipment_is_sent_with_its_carrier_and_url(system: OrdersSystem) -> None:
    sku = _a_listed_sku(system)
    order = system.backmarket.create_buyer_order(sku)
    order_id = order["order_id"]
    system.seller().accept_orderline(order_id, sku)
    system.import_orders()
    # ShipStation writes the label's carrier code and tracking URL; no unit was committed by hand.
    _ship_in_wholecell(
        system, order_id, "fedex", "794644790138", "https://www.fedex.com/fedextrack/?trknbr=794644790138"
    )

    system.watch()

    shipped = system.backmarket.order(order_id)
    assert shipped["tracking_number"] == "794644790138" and shipped["shipper"] == "FedEx"
    assert shipped["tracking_url"].endswith("794644790138")
    assert shipped["orderlines"][0]["imei"] == ""
    assert system.record(order_id).export_state == "sent"


def test_a_permanent_rejection_is_recorded_and_not_retried(system: OrdersSystem) -> None:
    sku = _a_listed_sku(system)
    refunded = system.backmarket.create_buyer_order(sku)
    too_long = system.backmarket.create_buyer_order(sku)
    seller = system.seller()
    for order in (refunded, too_long):
        seller.accept_orderline(order["order_id"], sku)
    system.import_orders()
    seller.refund_orderline(refunded["order_id"], sku, after_shipping=False)  # meanwhile on Back Market
    _ship_in_wholecell(system, refunded["order_id"], "UPS", "1Z999AA10123456784")
    _ship_in_wholecell(system, too_long["order_id"], "UPS", "1Z" + "9" * 210)

    system.watch()

    record = system.record(refunded["order_id"])
    assert record.export_state == "rejected"
    assert "was cancelled or refunded on Back Market before it shipped" in record.export_reason
    record = system.record(too_long["order_id"])
    assert record.export_state == "rejected"
    assert record.export_reason.startswith("Back Market refused the shipment:")
    assert "tracking_number" in record.export_reason  # Back Market's own message
    alerts = system.alerts()
    assert f"shipment-{refunded['order_id']}" in alerts and f"shipment-{too_long['order_id']}" in alerts

    posts = len(system.backmarket_calls("POST", "/ws/orders/"))
    system.clock.advance(3 * 3600)
    system.watch()
    system.import_orders()
    assert len(system.backmarket_calls("POST", "/ws/orders/")) == posts


def test_a_transient_failure_is_retried_later_and_sent_once(system: OrdersSystem) -> None:
    sku = _a_listed_sku(system)
    order = system.backmarket.create_buyer_order(sku)
    order_id = order["order_id"]
    system.seller().accept_orderline(order_id, sku)
    system.import_orders()
    _ship_in_wholecell(system, order_id, "Royal Mail", "RM123456785GB")
    # Back Market answers 503 to every attempt the client makes in this invocation.
    system.backmarket.set_faults(
        [{"mode": "server_error", "route": "POST /ws/orders/{order_id}", "count": 4, "status": 503}]
    )

    system.watch()

    record = system.record(order_id)
    assert record.export_state == "failed_retrying" and record.export_attempts == 1
    assert record.export_reason.startswith("Back Market did not take the shipment yet")
    assert system.backmarket.order(order_id)["tracking_number"] == ""

    retry = system.send_due_retries()  # a minute later the retry is due: shipment_export sends it
    assert retry.counts == {"retried": 1, "sent": 1}

    shipped = system.backmarket.order(order_id)
    assert shipped["tracking_number"] == "RM123456785GB" and shipped["shipper"] == "Royal Mail"
    record = system.record(order_id)
    assert record.export_state == "sent" and record.export_attempts == 0
