"""Exactly once without trusting an unconfirmed field, end to end: the WholeCell emulator behaves as if
it did not know the external id (``unknown_order_fields``), so the lookup bmsync recovers an unclear
create with never finds anything and is never confirmed. The marker in the notes finds the order; when
nothing can, the order waits for the seller, who answers in the console: not in WholeCell (it is
created once), or in WholeCell as order #N (it is linked, never created, and its shipment followed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bmsync.store.orders_repo import OrdersRepository
from bmsync.store.sync_state import SyncStateRepository
from bmsync.sync.contract_confirmed import EXTERNAL_ID_LOOKUP, is_confirmed
from bmsync.sync.order_import import order_marker
from bmsync.wholecell.client import WholeCellClient
from tests.e2e.orders_sandbox import CONNECTION, OrdersSystem, orders_system
from tests.e2e.test_orders_import_e2e import _a_listed_sku
from tests.e2e.test_orders_shipments_e2e import IMEI, _commit_unit, _ship_in_wholecell

STATUS = f"/api/connections/{CONNECTION}/status"


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OrdersSystem]:
    # bmsync's WholeCell client waits 30 s for an answer; a short wait keeps a lost answer quick to test.
    monkeypatch.setitem(WholeCellClient.__init__.__kwdefaults__, "timeout", (3.05, 0.3))
    with orders_system(tmp_path) as running:
        running.wholecell.set_unknown_order_fields(["external_id"])
        running.import_orders()  # the demo's open orders
        yield running


def _lose_the_answer_to_the_next_create(system: OrdersSystem) -> None:
    """WholeCell creates the order, then answers too late: bmsync's client gives up waiting."""
    system.wholecell.set_faults(timeouts=1, timeout_seconds=1.0, path_prefix="/sales_orders", method="POST")


def _exactly_one_wholecell_order_each(system: OrdersSystem) -> None:
    """The emulator's Backmarket orders and bmsync's imported orders pair off one to one, and every
    open Back Market order is among them: none created twice, none missing."""
    imported = [record for record in OrdersRepository().list(CONNECTION) if record.import_state == "imported"]
    in_wholecell = sorted(order["id"] for order in system.wholecell.orders(channel="Backmarket"))
    assert sorted(record.wholecell_order_id or 0 for record in imported) == in_wholecell
    open_orders = {str(order["order_id"]) for order in system.backmarket.orders() if order["state"] in (1, 3)}
    assert {record.order_id for record in imported} == open_orders


def _alert_messages(system: OrdersSystem) -> list[str]:
    return [alert["message"] for alert in system.console().api("GET", STATUS).json()["alerts"]]


def test_a_lost_create_is_found_by_the_marker_in_its_notes_and_its_shipment_sent(
    system: OrdersSystem,
) -> None:
    sku = _a_listed_sku(system)
    order_id = system.backmarket.create_buyer_order(sku)["order_id"]
    system.seller().accept_orderline(order_id, sku)
    _lose_the_answer_to_the_next_create(system)

    system.import_orders()
    [made] = [
        order
        for order in system.wholecell.orders(channel="Backmarket")
        if order_marker(CONNECTION, order_id) in (order["notes"] or "")
    ]
    assert made["external_id"] is None  # the lookup by external id cannot find it
    assert system.record(order_id).import_state == "creating"  # bmsync never heard of it

    run = system.import_orders()

    assert run.counts.get("recovered") == 1 and "imported" not in run.counts
    assert system.record(order_id).wholecell_order_id == made["id"]
    _exactly_one_wholecell_order_each(system)
    assert not is_confirmed(SyncStateRepository(CONNECTION, system.clock), EXTERNAL_ID_LOOKUP)

    # Shipped in WholeCell: found by the marker again (no external id), the tracking reaches Back Market.
    _commit_unit(system, order_id, sku, IMEI)
    _ship_in_wholecell(system, order_id, "DHL", "JD014600006281233")
    system.watch()
    assert system.backmarket.order(order_id)["tracking_number"] == "JD014600006281233"


def test_a_lost_create_neither_witness_finds_waits_for_the_seller_and_is_not_made_twice(
    system: OrdersSystem,
) -> None:
    system.wholecell.set_unknown_order_fields(["external_id", "notes"])
    order_id = system.backmarket.create_buyer_order(_a_listed_sku(system))["order_id"]
    before = len(system.wholecell.orders(channel="Backmarket"))
    _lose_the_answer_to_the_next_create(system)

    system.import_orders()
    waiting = system.import_orders()
    again = system.import_orders()

    assert waiting.counts.get("needs_confirmation") == 1 and "imported" not in waiting.counts
    assert again.counts.get("awaiting_confirmation") == 1 and "imported" not in again.counts
    assert len(system.wholecell.orders(channel="Backmarket")) == before + 1  # the lost one, only
    assert system.record(order_id).import_state == "needs_confirmation"
    assert f"Order {order_id} may already be in WholeCell: check and confirm." in _alert_messages(system)


def test_the_seller_confirms_an_order_absent_in_the_console_and_it_is_created_once(
    system: OrdersSystem,
) -> None:
    system.wholecell.set_unknown_order_fields(["external_id", "notes"])
    order_id = system.backmarket.create_buyer_order(_a_listed_sku(system))["order_id"]
    # An answer that is not JSON: WholeCell did nothing, but bmsync cannot know that.
    system.wholecell.set_faults(non_json=1, path_prefix="/sales_orders", method="POST")
    system.import_orders()
    waiting = system.import_orders()
    assert waiting.counts.get("needs_confirmation") == 1
    seller = system.console()
    assert f"Order {order_id} may already be in WholeCell: check and confirm." in _alert_messages(system)
    page = seller.request("GET", f"/connections/{CONNECTION}/orders/{order_id}").body
    assert "It is not in WholeCell: create it" in page

    confirmed = seller.request(
        "POST",
        f"/connections/{CONNECTION}/orders/{order_id}/confirm-absent",
        form={"csrf_token": seller.csrf},
    )
    assert confirmed.status == 303
    created = system.import_orders()
    system.import_orders()

    assert created.counts.get("imported") == 1
    record = system.record(order_id)
    assert record.import_state == "imported"
    [item] = system.wholecell.order(record.wholecell_order_id or 0)["order_items"]
    assert item["sku"] == record.lines[0].sku
    _exactly_one_wholecell_order_each(system)
    assert not any("may already be in WholeCell" in message for message in _alert_messages(system))


def test_the_seller_names_the_wholecell_order_a_lost_create_made_and_its_shipment_reaches_back_market(
    system: OrdersSystem,
) -> None:
    system.wholecell.set_unknown_order_fields(["external_id", "notes"])
    sku = _a_listed_sku(system)
    order_id = system.backmarket.create_buyer_order(sku)["order_id"]
    system.seller().accept_orderline(order_id, sku)
    before = {order["id"] for order in system.wholecell.orders(channel="Backmarket")}
    _lose_the_answer_to_the_next_create(system)
    system.import_orders()
    assert system.import_orders().counts.get("needs_confirmation") == 1
    [lost] = [order for order in system.wholecell.orders(channel="Backmarket") if order["id"] not in before]
    assert lost["external_id"] is None and not lost["notes"]  # it names no Back Market order

    # The seller finds it in WholeCell and says so: bmsync shows the order it read, then links it.
    seller = system.console()
    path = f"/connections/{CONNECTION}/orders/{order_id}/in-wholecell"
    form = {"wholecell_order_id": str(lost["id"]), "csrf_token": seller.csrf}
    shown = seller.request("POST", path, form=form)
    assert shown.status == 200 and f"Yes: it is WholeCell order #{lost['id']}" in shown.body
    assert seller.request("POST", path, form={**form, "confirm": "yes"}).status == 303
    assert not any("may already be in WholeCell" in message for message in _alert_messages(system))

    linked = system.import_orders()

    assert linked.counts.get("adopted") == 1 and "imported" not in linked.counts
    record = system.record(order_id)
    assert record.import_state == "imported" and record.wholecell_order_id == lost["id"]
    _exactly_one_wholecell_order_each(system)

    # Shipped in WholeCell: followed by its id alone, the tracking reaches Back Market.
    _commit_unit(system, order_id, sku, IMEI)
    _ship_in_wholecell(system, order_id, "DHL", "JD014600006281234")
    system.watch()
    assert system.backmarket.order(order_id)["tracking_number"] == "JD014600006281234"
