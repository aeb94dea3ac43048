"""Cutover from WholeCell's own Back Market integration, end to end: the orders it made are adopted by
bmsync's first import (linked, never created, their shipments still sent), and the console warns in
plain words while it still imports, until it stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.orders_sandbox import CONNECTION, OrdersSystem, orders_system
from tests.e2e.test_orders_import_e2e import _a_listed_sku
from tests.e2e.test_orders_shipments_e2e import IMEI, _commit_unit, _ship_in_wholecell

STATUS = f"/api/connections/{CONNECTION}/status"
STILL_IMPORTING = "Another integration is still importing Back Market orders into WholeCell"


@pytest.fixture
def system(tmp_path: Path) -> Iterator[OrdersSystem]:
    with orders_system(tmp_path) as running:
        yield running


def _wholecell_integration_imports(
    system: OrdersSystem, order: dict[str, Any], *, at: datetime | None = None, in_notes: bool = False
) -> dict[str, Any]:
    """What WholeCell's own integration makes of a Back Market order: an order of the Backmarket
    channel, the order number as its external id (or ``in_notes``: only in its notes, as we cannot
    rule out), and no bmsync marker."""
    number = str(order["order_id"])
    return system.wholecell.create_sales_order(
        order_items=[
            {"sku": line["listing"], "quantity": line["quantity"], "price": round(float(line["price"]) * 100)}
            for line in order["orderlines"]
        ],
        channel="Backmarket",
        status="Pending",
        customer_name="Back Market",
        external_id=None if in_notes else number,
        notes=f"Imported from BackMarket, order #{number}" if in_notes else None,
        created_at=at,
    )


def _one_wholecell_order_each(system: OrdersSystem) -> dict[str, int]:
    """The emulator's Backmarket orders by Back Market order number: exactly one each."""
    orders = system.wholecell.orders(channel="Backmarket")
    numbers = [order["external_id"] for order in orders]
    assert len(numbers) == len(set(numbers)), "a Back Market order is twice in WholeCell"
    return {order["external_id"]: order["id"] for order in orders}


def _console_alerts(system: OrdersSystem) -> list[str]:
    return [alert["message"] for alert in system.console().api("GET", STATUS).json()["alerts"]]


def test_the_first_import_adopts_what_wholecell_s_integration_made_and_ships_it(system: OrdersSystem) -> None:
    open_orders = [order for order in system.backmarket.orders() if order["state"] in (1, 3)]
    to_ship = next(order for order in open_orders if order["state"] == 3)  # accepted: can be shipped
    left_for_bmsync = next(order for order in open_orders if order["state"] == 1)
    theirs = [order for order in open_orders if order is not left_for_bmsync]
    # WholeCell's integration imported them, and was switched off two hours ago.
    made = {
        str(order["order_id"]): _wholecell_integration_imports(
            system, order, at=system.clock.now() - timedelta(hours=2)
        )["id"]
        for order in theirs
    }

    run = system.import_orders()

    assert run.counts.get("adopted") == len(theirs) and run.counts.get("imported") == 1
    in_wholecell = _one_wholecell_order_each(system)
    assert set(in_wholecell) == {str(order["order_id"]) for order in open_orders}
    for number, wholecell_id in made.items():
        record = system.record(number)
        assert record.adopted and record.wholecell_order_id == wholecell_id == in_wholecell[number]
        assert (
            record.import_status
            == f"adopted from WholeCell's own integration: WholeCell sales order {wholecell_id}"
        )
    created = system.record(left_for_bmsync["order_id"])
    assert (
        not created.adopted and created.wholecell_order_id == in_wholecell[str(left_for_bmsync["order_id"])]
    )
    page = system.console().request("GET", f"/connections/{CONNECTION}/orders/{to_ship['order_id']}").body
    assert "adopted from WholeCell&#x27;s own integration" in page
    assert not any(STILL_IMPORTING in message for message in _console_alerts(system))

    # The seller ships the adopted order in WholeCell: the tracking number reaches Back Market.
    order_id = to_ship["order_id"]
    _commit_unit(system, order_id, to_ship["orderlines"][0]["listing"], IMEI)
    _ship_in_wholecell(system, order_id, "DHL", "JD014600006281231")
    system.watch()

    shipped = system.backmarket.order(order_id)
    assert shipped["state"] == 9 and shipped["tracking_number"] == "JD014600006281231"
    assert shipped["orderlines"][0]["imei"] == IMEI
    assert system.record(order_id).export_state == "sent"
    assert _one_wholecell_order_each(system) == in_wholecell  # adopting never created anything


def test_an_order_adopted_by_the_number_in_its_notes_ships_too(system: OrdersSystem) -> None:
    system.import_orders()  # the demo's open orders
    sku = _a_listed_sku(system)
    order = system.backmarket.create_buyer_order(sku)
    system.seller().accept_orderline(order["order_id"], sku)
    theirs = _wholecell_integration_imports(
        system,
        system.backmarket.order(order["order_id"]),
        at=system.clock.now() - timedelta(hours=2),
        in_notes=True,
    )
    system.import_orders()
    assert system.record(order["order_id"]).wholecell_order_id == theirs["id"]  # adopted

    _commit_unit(system, order["order_id"], sku, IMEI)
    _ship_in_wholecell(system, order["order_id"], "DHL", "JD014600006281232")
    system.watch()

    shipped = system.backmarket.order(order["order_id"])
    assert shipped["state"] == 9 and shipped["tracking_number"] == "JD014600006281232"
    assert system.record(order["order_id"]).export_state == "sent"


def test_the_console_warns_while_another_integration_imports_and_clears_when_it_stopped(
    system: OrdersSystem,
) -> None:
    system.import_orders()  # the first import: bmsync made the demo's open orders
    sku = _a_listed_sku(system)
    assert not any(STILL_IMPORTING in message for message in _console_alerts(system))

    # WholeCell's integration still runs: it imports a new order before bmsync does.
    first = system.backmarket.create_buyer_order(sku)
    theirs = _wholecell_integration_imports(system, first)
    run = system.import_orders()
    assert run.counts.get("adopted") == 1 and "imported" not in run.counts
    [warning] = [message for message in _console_alerts(system) if STILL_IMPORTING in message]
    assert "switch WholeCell's Back Market integration off" in warning
    assert f"last: WholeCell sales order {theirs['id']}" in warning

    # bmsync is first this time; WholeCell's integration makes its duplicate a little later.
    system.clock.advance(61 * 60)
    second = system.backmarket.create_buyer_order(sku)
    system.import_orders()
    duplicate = _wholecell_integration_imports(system, second)
    system.clock.advance(15 * 60)
    system.import_orders()  # nothing new on Back Market: bmsync still looks
    [warning] = [message for message in _console_alerts(system) if STILL_IMPORTING in message]
    assert f"last: WholeCell sales order {duplicate['id']}" in warning

    # The seller switches WholeCell's integration off: an hour on, the warning is gone by itself.
    system.clock.advance(60 * 60)
    system.import_orders()
    assert not any(STILL_IMPORTING in message for message in _console_alerts(system))
