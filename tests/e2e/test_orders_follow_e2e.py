"""WholeCell's status follows Back Market (never the reverse), and automatic validation, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.settings import AutoValidation
from tests.e2e.orders_sandbox import OrdersSystem, orders_system
from tests.e2e.test_orders_import_e2e import _a_listed_sku


@pytest.fixture
def system(tmp_path: Path) -> Iterator[OrdersSystem]:
    with orders_system(tmp_path) as running:
        yield running


def test_status_follows_accept_ship_and_cancel(system: OrdersSystem) -> None:
    sku = _a_listed_sku(system)
    to_ship = system.backmarket.create_buyer_order(sku)
    to_cancel = system.backmarket.create_buyer_order(sku)
    system.import_orders()
    assert system.wholecell_order(to_ship["order_id"])["status"] == "Pending"

    seller = system.seller()
    seller.accept_orderline(to_ship["order_id"], sku)
    seller.cancel_orderline(to_cancel["order_id"], sku)
    system.import_orders()
    assert system.wholecell_order(to_ship["order_id"])["status"] == "Processing"
    assert system.wholecell_order(to_cancel["order_id"])["status"] == "Cancelled"

    seller.ship_order(to_ship["order_id"], tracking_number="1Z999AA10123456784", shipper="UPS")
    system.import_orders()
    assert system.wholecell_order(to_ship["order_id"])["status"] == "Shipped"
    events = [event.event for event in system.record(to_ship["order_id"]).history]
    assert "WholeCell status set to 'Processing'" in events and "WholeCell status set to 'Shipped'" in events


def test_a_status_changed_in_wholecell_does_not_stick_and_is_explained(system: OrdersSystem) -> None:
    sku = _a_listed_sku(system)
    order = system.backmarket.create_buyer_order(sku)
    system.import_orders()
    wholecell_id = system.record(order["order_id"]).wholecell_order_id
    backmarket_before = system.backmarket.order(order["order_id"])

    system.wholecell.set_order_status(wholecell_id, "Shipped")  # by hand, in WholeCell
    system.watch()
    system.import_orders()

    # Never pushed back: Back Market's order is untouched, no update was sent to it.
    assert system.backmarket.order(order["order_id"]) == backmarket_before
    assert system.backmarket_calls("POST", f"/ws/orders/{order['order_id']}") == []
    record = system.record(order["order_id"])
    assert record.wholecell_status_seen == "Shipped"
    assert record.status_note.startswith(
        "WholeCell status changed by hand to 'Shipped': Back Market state 1 (paid, waiting for validation) "
        "maps to 'Pending'"
    )

    # The next Back Market change sets the mapped status again, and says so.
    system.seller().accept_orderline(order["order_id"], sku)
    system.import_orders()
    assert system.wholecell.order(wholecell_id)["status"] == "Processing"
    assert system.record(order["order_id"]).status_note.startswith(
        "WholeCell status 'Shipped' (set by hand) replaced by 'Processing'"
    )


def test_automatic_validation_off_then_on(system: OrdersSystem) -> None:
    sku = _a_listed_sku(system)
    waiting = system.backmarket.create_buyer_order(sku)
    system.import_orders()
    assert system.backmarket.order(waiting["order_id"])["orderlines"][0]["state"] == 1  # off by default
    assert system.record(waiting["order_id"]).validations == []

    system.clock.advance(15 * 60)  # the earlier orders leave the incremental read's overlap window
    system.import_orders()
    system.configure(auto_validation=AutoValidation.ALWAYS)
    validated = system.backmarket.create_buyer_order(sku)
    run = system.import_orders()

    assert run.counts["validated"] == 1
    assert system.backmarket.order(validated["order_id"])["orderlines"][0]["state"] == 2
    assert system.backmarket.order(validated["order_id"])["state"] == 3
    [validation] = system.record(validated["order_id"]).validations
    assert validation.action == "accepted"
    assert system.wholecell_order(validated["order_id"])["status"] == "Processing"
    # The order imported before the switch is not read again (nothing changed on Back Market since),
    # so it still waits for a person.
    assert system.backmarket.order(waiting["order_id"])["orderlines"][0]["state"] == 1
