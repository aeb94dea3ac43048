"""wholecell_watch's half of the shipment direction: what capture_new_shipments records."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from bmsync.settings import Settings
from bmsync.store.dynamo import table
from bmsync.store.orders_repo import OrderRecord, OrdersRepository
from bmsync.store.tables import ORDERS
from bmsync.sync.shipment_export import capture_new_shipments
from tests.unit.orders.fakes import FakeSalesOrder, FakeShipment, FakeUnit

SETTINGS = Settings(connection_id="uk")


def _imported(repo: OrdersRepository, clock, order_id: str = "500001", wholecell_id: int = 77) -> OrderRecord:
    def imported(record: OrderRecord) -> bool:
        record.import_state = "imported"
        record.wholecell_order_id = wholecell_id
        record.wholecell_status = "Processing"
        record.bm_state = 3
        record.bm_status = "accepted"
        return True

    stored = repo.update("uk", order_id, imported, writer="order_import", now=clock.now(), create=True)
    assert stored is not None
    return stored


def _sales_order(**overrides) -> FakeSalesOrder:
    fields = {
        "id": 77,
        "status": "Processing",
        "external_id": "500001",
        "shipments": [
            FakeShipment(
                9, "Royal Mail", "RM123456789GB", "https://track/RM1", datetime(2026, 1, 5, 10, tzinfo=UTC)
            )
        ],
        "inventories": [FakeUnit("356938035643809", 11)],
    }
    fields.update(overrides)
    return FakeSalesOrder(**fields)


def test_a_new_shipment_is_recorded_once_and_makes_the_export_pending(aws: None, clock) -> None:
    repo = OrdersRepository()
    _imported(repo, clock)

    assert capture_new_shipments([_sales_order()], settings=SETTINGS, orders=repo, clock=clock) == 1

    record = repo.get("uk", "500001")
    assert record is not None and record.shipment is not None
    assert record.shipment.tracking_number == "RM123456789GB"
    assert record.shipment.carrier == "Royal Mail"
    assert [unit.esn for unit in record.shipment.units] == ["356938035643809"]
    assert record.export_state == "pending"
    assert record.last_writer == "wholecell_watch"  # so shipment_export (not watch) reacts to it
    assert "added in WholeCell" in record.history[-1].event

    # The same view again (the next poll) writes nothing: no stream record, no second export.
    assert capture_new_shipments([_sales_order()], settings=SETTINGS, orders=repo, clock=clock) == 0
    assert repo.get("uk", "500001").revision == record.revision


def test_the_newest_tracked_shipment_wins_and_untracked_ones_are_ignored(aws: None, clock) -> None:
    repo = OrdersRepository()
    _imported(repo, clock)
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    sales_order = _sales_order(
        shipments=[
            FakeShipment(1, "UPS", "1ZOLD", None, at),
            FakeShipment(2, "UPS", "", None, at + timedelta(hours=2)),
            FakeShipment(3, "DHL", "JD0002", None, at + timedelta(hours=1)),
        ]
    )
    capture_new_shipments([sales_order], settings=SETTINGS, orders=repo, clock=clock)
    record = repo.get("uk", "500001")
    assert record.shipment.tracking_number == "JD0002" and record.shipment.carrier == "DHL"


def test_orders_bmsync_did_not_import_are_left_alone(aws: None, clock) -> None:
    repo = OrdersRepository()
    _imported(repo, clock)
    others = [
        _sales_order(channel="backmarket"),  # not the exact channel
        _sales_order(channel="Amazon"),
        _sales_order(external_id="999"),  # no such Back Market order
        _sales_order(id=78),  # another WholeCell order claiming the same external id
        _sales_order(external_id=None),
    ]
    assert capture_new_shipments(others, settings=SETTINGS, orders=repo, clock=clock) == 0
    record = repo.get("uk", "500001")
    assert record.shipment is None and record.export_state == "none"
    assert repo.get("uk", "999") is None


def test_a_status_changed_by_hand_in_wholecell_is_explained_not_pushed(aws: None, clock) -> None:
    repo = OrdersRepository()
    _imported(repo, clock)

    capture_new_shipments(
        [_sales_order(status="Shipped", shipments=[])], settings=SETTINGS, orders=repo, clock=clock
    )

    record = repo.get("uk", "500001")
    assert record.wholecell_status_seen == "Shipped"
    assert record.status_note.startswith(
        "WholeCell status changed by hand to 'Shipped': Back Market state 3 (accepted, to ship) maps to "
        "'Processing'"
    )
    assert record.export_state == "none"

    # Set back to the mapped status: the explanation goes away.
    capture_new_shipments(
        [_sales_order(status="Processing", shipments=[])], settings=SETTINGS, orders=repo, clock=clock
    )
    assert repo.get("uk", "500001").status_note == ""


def test_units_committed_after_the_shipment_update_it_without_a_new_export(aws: None, clock) -> None:
    repo = OrdersRepository()
    _imported(repo, clock)
    capture_new_shipments([_sales_order(inventories=[])], settings=SETTINGS, orders=repo, clock=clock)

    def sent(record: OrderRecord) -> bool:
        record.export_state = "sent"
        record.exported_key = record.shipment.key
        return True

    repo.update("uk", "500001", sent, writer="shipment_export", now=clock.now())
    assert capture_new_shipments([_sales_order()], settings=SETTINGS, orders=repo, clock=clock) == 1
    record = repo.get("uk", "500001")
    assert record.export_state == "sent" and [unit.esn for unit in record.shipment.units] == [
        "356938035643809"
    ]


def test_a_full_reconciliation_of_hundreds_of_orders_reads_in_batches_and_writes_only_what_changed(
    aws: None, clock
) -> None:
    repo = OrdersRepository()
    order_ids = [str(600000 + number) for number in range(250)]
    for number, order_id in enumerate(order_ids):
        _imported(repo, clock, order_id=order_id, wholecell_id=1000 + number)
    sales_orders = [
        _sales_order(id=1000 + number, external_id=order_id, shipments=[], inventories=[])
        for number, order_id in enumerate(order_ids)
    ]
    assert (
        capture_new_shipments(sales_orders, settings=SETTINGS, orders=repo, clock=clock) == 250
    )  # the statuses seen, once
    sales_orders[7] = _sales_order(id=1007, external_id=order_ids[7])  # then one new shipment

    calls: Counter[str] = Counter()
    client = table(ORDERS).meta.client
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    assert capture_new_shipments(sales_orders, settings=SETTINGS, orders=repo, clock=clock) == 1

    assert calls["BatchGetItem"] == 3  # 250 orders, 100 a request
    assert calls["PutItem"] == 1 and calls["GetItem"] == 1  # only the changed order is re-read and written
    assert repo.get("uk", order_ids[7]).export_state == "pending"
    assert repo.get("uk", order_ids[8]).shipment is None


def test_an_order_without_the_number_as_external_id_is_found_by_the_number_in_its_notes(
    aws: None, clock
) -> None:
    repo = OrdersRepository()
    _imported(repo, clock)  # linked to WholeCell order 77 (adopted by a mention of its number)
    adopted = _sales_order(external_id=None, notes="Imported from BackMarket, order #500001")
    # Someone's note naming the same order on another WholeCell order is not taken for it.
    other = _sales_order(id=78, external_id="BM 500001", notes=None)

    assert capture_new_shipments([other, adopted], settings=SETTINGS, orders=repo, clock=clock) == 1

    record = repo.get("uk", "500001")
    assert record is not None and record.wholecell_order_id == 77
    assert record.shipment is not None and record.export_state == "pending"
