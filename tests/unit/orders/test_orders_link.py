"""The seller's other answer to "order N may already be in WholeCell": "it is WholeCell order #M".
The named order is checked plausible (read-only), then linked at the next run as an adopted order is,
and followed (its shipment captured) though it names no Back Market order."""

from __future__ import annotations

import pytest

from bmsync.settings import AutoValidation
from bmsync.store.orders_repo import OrderRecord
from bmsync.sync.doctor import diagnose_order
from bmsync.sync.order_link import LinkRefused, confirm_in_wholecell
from bmsync.sync.shipment_export import capture_new_shipments, linked_by_hand
from bmsync.wholecell.errors import NotFound
from tests.unit.orders.conftest import OrdersHarness
from tests.unit.orders.fakes import FakeSalesOrder, FakeShipment, FakeUnit
from tests.unit.orders.test_orders_witness import Crash

MAY_EXIST = "order-may-exist-1001"


def _lost_create_neither_witness_finds(harness: OrdersHarness) -> FakeSalesOrder:
    """Order 1001's create reached WholeCell, but WholeCell kept neither its external id nor its notes."""
    harness.wholecell.external_id_unknown = True
    harness.order(1001, 1)
    harness.wholecell.crash_after_create.append(Crash())
    with pytest.raises(Crash):
        harness.run()
    [made] = harness.wholecell.orders.values()
    made.notes = None
    harness.clock.advance(6 * 60)  # past the crashed run's claim
    assert harness.run().counts["needs_confirmation"] == 1
    return made


def _say_it_is(harness: OrdersHarness, wholecell_order_id: int, order_id: str = "1001") -> bool:
    return confirm_in_wholecell(
        orders=harness.orders,
        state=harness.state,
        read_sales_order=harness.wholecell.get_sales_order,
        connection_id="uk",
        order_id=order_id,
        wholecell_order_id=wholecell_order_id,
        now=harness.clock.now(),
    )


def _alert_ids(harness: OrdersHarness) -> set[str]:
    return {alert.alert_id for alert in harness.state.alerts()}


def test_the_named_order_is_linked_never_created_and_its_shipment_followed(harness: OrdersHarness) -> None:
    made = _lost_create_neither_witness_finds(harness)
    harness.settings = harness.settings.model_copy(update={"auto_validation": AutoValidation.ALWAYS})
    [asked] = [
        finding
        for finding in diagnose_order(harness.settings, "1001", orders=harness.orders).findings
        if finding.question == "Is the order in WholeCell?"
    ]
    assert "It is in WholeCell: order #" in asked.action

    assert _say_it_is(harness, made.id)

    waiting = harness.record(1001)
    assert waiting.import_state == "not_imported" and waiting.confirmed_wholecell_order_id == made.id
    [imported] = [
        finding
        for finding in diagnose_order(harness.settings, "1001", orders=harness.orders).findings
        if finding.question == "Is the order in WholeCell?"
    ]
    assert imported.action == "Nothing to do: it comes in at the next order import run."
    assert waiting.history[-1].event.startswith(f"confirmed in WholeCell as sales order {made.id}")
    assert MAY_EXIST not in _alert_ids(harness)

    harness.clock.advance(60)
    run = harness.run()  # not touched on Back Market: the confirmation brings it back

    assert run.counts["adopted"] == 1 and "imported" not in run.counts
    assert len(harness.wholecell.created) == 1  # the lost create only
    record = harness.record(1001)
    assert record.import_state == "imported" and record.adopted
    assert record.wholecell_order_id == made.id
    assert record.import_status.startswith(f"linked to WholeCell sales order {made.id}")
    # Followed like any other: validated automatically on Back Market (the line was waiting for it).
    assert harness.backmarket.orders[1001].orderlines[0].state == 2

    # The sales order names no Back Market order, yet its shipment reaches the record.
    made.shipments.append(FakeShipment(1, "DHL", "JD0146"))
    made.inventories.append(FakeUnit("356938035643809"))
    capture_new_shipments(
        [made],
        settings=harness.settings,
        orders=harness.orders,
        clock=harness.clock,
        linked_by_hand=linked_by_hand(harness.state),
    )
    shipment = harness.record(1001).shipment
    assert shipment is not None and shipment.tracking_number == "JD0146"
    assert harness.record(1001).export_state == "pending"


def _refused(harness: OrdersHarness, wholecell_order_id: int) -> str:
    before = harness.record(1001)
    with pytest.raises(LinkRefused) as refused:
        _say_it_is(harness, wholecell_order_id)
    after = harness.record(1001)
    assert after.import_state == "needs_confirmation" and after.revision == before.revision
    assert MAY_EXIST in _alert_ids(harness)
    assert linked_by_hand(harness.state) == {}
    return str(refused.value)


def test_an_order_of_another_channel_is_refused(harness: OrdersHarness) -> None:
    made = _lost_create_neither_witness_finds(harness)
    made.channel = "Amazon"

    assert _refused(harness, made.id) == (
        f"WholeCell sales order {made.id} is in the channel 'Amazon', not 'Backmarket'"
    )


def test_an_order_already_linked_to_another_back_market_order_is_refused(harness: OrdersHarness) -> None:
    made = _lost_create_neither_witness_finds(harness)

    def linked(record: OrderRecord) -> bool:
        record.import_state = "imported"
        record.wholecell_order_id = made.id
        return True

    harness.orders.update("uk", 2002, linked, writer="order_import", now=harness.clock.now(), create=True)

    assert _refused(harness, made.id) == (
        f"WholeCell sales order {made.id} is already linked to Back Market order 2002"
    )


@pytest.mark.parametrize(
    ("external_id", "notes", "why"),
    [
        ("2002", None, "has the external id 2002: it is Back Market order 2002's"),
        (None, "Back Market; bmsync:uk:2002", "carries bmsync's marker bmsync:uk:2002 in its notes"),
        (None, "Back Market; bmsync:fr:1001", "carries bmsync's marker bmsync:fr:1001 in its notes"),
        (None, "Back Market order 2002, call 0123456", "names Back Market order 2002 in its notes, not 1001"),
    ],
)
def test_an_order_naming_another_back_market_order_is_refused(
    harness: OrdersHarness, external_id: str | None, notes: str | None, why: str
) -> None:
    made = _lost_create_neither_witness_finds(harness)
    harness.order(2002, 1)
    harness.run()  # order 2002 is one of the connection's
    made.external_id, made.notes = external_id, notes

    assert why in _refused(harness, made.id)


def test_notes_naming_no_order_of_the_connection_are_no_reason_to_refuse(harness: OrdersHarness) -> None:
    made = _lost_create_neither_witness_finds(harness)
    made.notes = "Customer phone 0123456"

    assert _say_it_is(harness, made.id)


def test_an_unknown_sales_order_changes_nothing(harness: OrdersHarness) -> None:
    _lost_create_neither_witness_finds(harness)

    with pytest.raises(NotFound):
        _say_it_is(harness, 999_999)

    assert harness.record(1001).import_state == "needs_confirmation"
    assert MAY_EXIST in _alert_ids(harness)


def test_an_order_not_waiting_for_a_confirmation_is_not_changed(harness: OrdersHarness) -> None:
    harness.order(1001, 1)
    harness.run()
    record = harness.record(1001)
    assert record.import_state == "imported"
    other = harness.wholecell.add_foreign_order(None)

    assert not _say_it_is(harness, other.id)
    assert harness.record(1001).wholecell_order_id == record.wholecell_order_id
    assert linked_by_hand(harness.state) == {}
