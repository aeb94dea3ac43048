"""shipment_export: held until validated, sent once with tracking/shipper/IMEI, rejections, retries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bmsync.backmarket.errors import Unauthorized
from bmsync.sync.shipment_export import MAX_EXPORT_ATTEMPTS, capture_new_shipments
from tests.unit.orders.conftest import SKU, OrdersHarness
from tests.unit.orders.fakes import FakeLine, FakeShipment, FakeUnit, InvalidTransition, ServerError

IMEI = "356938035643809"  # a valid IMEI (Luhn)


class ProcessDied(Exception):
    """A Lambda timeout or out-of-memory between Back Market's answer and DynamoDB's write."""


def _ship_in_wholecell(
    harness: OrdersHarness,
    order_id: int,
    *,
    carrier: str = "DHL",
    tracking: str = "JD014600006281",
    esns: tuple[str, ...] = (IMEI,),
    variation_id: int = 11,
) -> None:
    sales_order = harness.wholecell.orders[harness.record(order_id).wholecell_order_id]
    sales_order.inventories = [FakeUnit(esn, variation_id) for esn in esns]
    sales_order.shipments.append(
        FakeShipment(
            len(sales_order.shipments) + 1,
            carrier,
            tracking,
            f"https://track/{tracking}",
            datetime(2026, 1, 5, 12, tzinfo=UTC),
        )
    )
    assert (
        capture_new_shipments(
            [sales_order], settings=harness.settings, orders=harness.orders, clock=harness.clock
        )
        == 1
    )


def test_a_shipment_of_a_validated_order_is_sent_once_with_imei_and_mapped_carrier(
    harness: OrdersHarness,
) -> None:
    harness.order(1001, 3)
    harness.run()
    _ship_in_wholecell(harness, 1001)

    assert harness.export(1001) == "sent"

    [(order_id, fields)] = harness.backmarket.sent("ship")
    assert order_id == 1001
    assert fields["tracking_number"] == "JD014600006281"
    assert fields["shipper"] == "DHL Express"  # the settings' carrier map
    assert fields["tracking_url"] == "https://track/JD014600006281"
    assert fields["imei"] == IMEI and "serial_number" not in fields
    record = harness.record(1001)
    assert record.export_state == "sent" and record.export_reason.startswith("sent to Back Market")
    assert record.last_writer == "shipment_export"

    # A replayed stream record, and the next poll of WholeCell, send nothing again.
    assert harness.export(1001) == "sent"
    sales_order = harness.wholecell.orders[record.wholecell_order_id]
    assert (
        capture_new_shipments(
            [sales_order], settings=harness.settings, orders=harness.orders, clock=harness.clock
        )
        == 0
    )
    assert len(harness.backmarket.sent("ship")) == 1


def test_a_serial_number_goes_as_serial_and_several_lines_get_identifiers_per_line(
    harness: OrdersHarness,
) -> None:
    harness.order(1001, 3, FakeLine(10011, 2, SKU), FakeLine(10012, 2, "GXS22-128-PB-B"))
    harness.run()
    _ship_in_wholecell(harness, 1001, esns=("R58N1234ABC",), variation_id=21)

    assert harness.export(1001) == "sent"
    [(_, fields)] = harness.backmarket.sent("ship")
    assert "imei" not in fields and "serial_number" not in fields  # two lines: not on the ship call
    assert harness.backmarket.sent("identifiers") == [(10012, None, "R58N1234ABC")]


def test_a_shipment_before_validation_is_held_then_sent_once_validation_is_seen(
    harness: OrdersHarness,
) -> None:
    harness.order(1001, 1)
    harness.run()
    _ship_in_wholecell(harness, 1001)

    assert harness.export(1001) == "held_not_validated"
    record = harness.record(1001)
    assert record.export_reason.startswith("shipment held: validate order 1001 on Back Market first")
    assert harness.backmarket.sent("ship") == []
    assert harness.export(1001) == "held_not_validated"  # a replay does not try again
    assert harness.backmarket.sent("ship") == []

    harness.backmarket.accept_orderline(1001, SKU)  # the seller validates on Back Market
    harness.touch(1001)
    harness.run()
    record = harness.record(1001)
    assert record.export_state == "pending" and record.last_writer == "order_import"  # wakes the export
    assert "the held shipment goes out" in record.export_reason

    assert harness.export(1001) == "sent"
    assert len(harness.backmarket.sent("ship")) == 1


def test_an_order_cancelled_meanwhile_is_rejected_and_alerted_not_retried(harness: OrdersHarness) -> None:
    harness.order(1001, 3)
    harness.run()
    _ship_in_wholecell(harness, 1001)
    harness.backmarket.orders[1001].orderlines[0].state = 4

    assert harness.export(1001) == "rejected"
    record = harness.record(1001)
    assert "was cancelled or refunded on Back Market" in record.export_reason
    [alert] = [a for a in harness.state.alerts() if a.alert_id == "shipment-1001"]
    assert "Order 1001" in alert.message
    assert harness.export(1001) == "rejected" and harness.backmarket.sent("ship") == []


def test_back_markets_refusal_is_recorded_with_its_message(harness: OrdersHarness) -> None:
    harness.order(1001, 3)
    harness.run()
    _ship_in_wholecell(harness, 1001)
    original_ship = harness.backmarket.ship_order

    def refuse(order_id: int, **fields):
        harness.backmarket.calls.append(("ship", (order_id, fields)))
        raise InvalidTransition("tracking_number: invalid tracking number", status=400)

    harness.backmarket.ship_order = refuse  # type: ignore[method-assign]
    assert harness.export(1001) == "rejected"
    assert harness.record(1001).export_reason == (
        "Back Market refused the shipment: tracking_number: invalid tracking number"
    )
    harness.backmarket.ship_order = original_ship  # type: ignore[method-assign]
    harness.clock.advance(3600)
    assert harness.send_due_retries().counts.get("retried", 0) == 0
    assert harness.export(1001) == "rejected" and len(harness.backmarket.sent("ship")) == 1


def test_transient_failures_retry_with_backoff_then_need_a_person(harness: OrdersHarness) -> None:
    harness.order(1001, 3)
    harness.run()
    _ship_in_wholecell(harness, 1001)
    harness.backmarket.fail_next = [ServerError("Back Market answered 503", status=503)]

    assert harness.export(1001) == "failed_retrying"
    record = harness.record(1001)
    assert record.export_attempts == 1 and "503" in record.export_reason
    # Not due yet: neither a replay nor shipment_export's schedule tries again.
    assert harness.export(1001) == "failed_retrying"
    assert harness.send_due_retries().counts.get("retried", 0) == 0
    harness.clock.advance(61)
    # shipment_export's own schedule sends it once its retry time has come.
    assert harness.send_due_retries().counts == {"retried": 1, "sent": 1}
    assert harness.record(1001).export_state == "sent"

    harness.order(1002, 3)
    harness.run()
    _ship_in_wholecell(harness, 1002, tracking="JD2")
    for _ in range(MAX_EXPORT_ATTEMPTS):
        harness.backmarket.fail_next = [ServerError("Back Market answered 503", status=503)]
        harness.export(1002)
        harness.clock.advance(3600)
    record = harness.record(1002)
    assert record.export_state == "failed" and f"after {MAX_EXPORT_ATTEMPTS} attempts" in record.export_reason
    assert any(alert.alert_id == "shipment-1002" for alert in harness.state.alerts())


def test_a_revoked_token_uses_no_attempt_and_the_shipment_goes_within_a_minute_of_the_new_one(
    harness: OrdersHarness,
) -> None:
    harness.order(1001, 3)
    harness.run()
    _ship_in_wholecell(harness, 1001)
    harness.backmarket.fail_next = [Unauthorized("Back Market rejected the token", status=401)]
    assert harness.export(1001) == "failed_retrying"
    assert any(alert.severity == "critical" for alert in harness.state.alerts())
    # An outage far longer than six doubling retries: every minute it is tried again, uncounted.
    for _ in range(3 * MAX_EXPORT_ATTEMPTS):
        harness.clock.advance(61)
        harness.backmarket.fail_next = [Unauthorized("Back Market rejected the token", status=401)]
        assert harness.send_due_retries().counts.get("retried") == 1
    record = harness.record(1001)
    assert record.export_state == "failed_retrying" and record.export_attempts == 0
    assert not any(alert.alert_id == "shipment-1001" for alert in harness.state.alerts())
    # The seller saves the new token: the next minute sends it.
    harness.clock.advance(61)
    assert harness.send_due_retries().counts == {"retried": 1, "sent": 1}
    assert harness.record(1001).export_state == "sent" and len(harness.backmarket.sent("ship")) == 1


def test_a_crash_after_sending_is_confirmed_by_rereading_not_sent_again(harness: OrdersHarness) -> None:
    harness.order(1001, 3)
    harness.run()
    _ship_in_wholecell(harness, 1001)
    original_ship = harness.backmarket.ship_order

    def ship_then_die(order_id: int, **fields):
        original_ship(order_id, **fields)
        raise ProcessDied  # before the result is recorded

    harness.backmarket.ship_order = ship_then_die  # type: ignore[method-assign]
    with pytest.raises(ProcessDied):
        harness.export(1001)
    harness.backmarket.ship_order = original_ship  # type: ignore[method-assign]
    assert harness.record(1001).export_state == "sending"
    assert harness.export(1001) == "sending"  # the attempt's lease still runs
    harness.clock.advance(180)
    assert harness.send_due_retries().counts == {"retried": 1, "sent": 1}
    assert harness.record(1001).export_state == "sent"
    assert len(harness.backmarket.sent("ship")) == 1
    assert "(confirmed)" in harness.record(1001).export_reason


def test_an_unknown_carrier_is_held_with_an_alert_until_the_carrier_map_names_a_shipper(
    harness: OrdersHarness,
) -> None:
    harness.order(1001, 3)
    harness.run()
    _ship_in_wholecell(harness, 1001, carrier="Speedy Parcels")

    assert harness.export(1001) == "held_unknown_carrier"

    # Nothing was sent: Back Market would refuse the name (400) at every attempt.
    assert harness.backmarket.sent("ship") == []
    record = harness.record(1001)
    assert "'Speedy Parcels' is not a shipper Back Market knows" in record.export_reason
    assert "carrier_map" in record.export_reason
    [alert] = [
        alert for alert in harness.state.alerts() if alert.alert_id == "shipment-carrier-speedy parcels"
    ]
    assert "'Speedy Parcels'" in alert.message and "carrier_map" in alert.action
    # The schedule leaves it alone while the carrier is still unknown...
    assert harness.send_due_retries().counts.get("retried", 0) == 0
    assert harness.backmarket.sent("ship") == []

    # ...and sends it once the settings map the carrier, in Back Market's spelling.
    harness.settings = harness.settings.model_copy(
        update={"carrier_map": {**harness.settings.carrier_map, "Speedy Parcels": "dpd uk"}}
    )
    run = harness.send_due_retries()

    assert run.counts["retried"] == 1 and harness.record(1001).export_state == "sent"
    [(_, fields)] = harness.backmarket.sent("ship")
    assert fields["shipper"] == "DPD UK"
    assert not [alert for alert in harness.state.alerts() if alert.alert_id.startswith("shipment-carrier-")]
